package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeReadyTimeout bounds the wait for the node to be Ready and schedulable; the
// kubelet's first status and the controller-manager's removal of the not-ready
// taint take 10-40 s on a busy 2-core machine.
const nodeReadyTimeout = 3 * time.Minute

// nodeLock serializes nodes on one machine: kube-proxy's iptables chains, the CNI
// bridge and the node IP are host-wide.
const nodeLock = "/tmp/prosper-kubetest-node.lock"

// NodeName is the name the node registers under.
const NodeName = "kubetest-node"

// Node is a single-node Kubernetes cluster: Start's API server plus
// kube-controller-manager, kube-scheduler, a kubelet on a containerd of its own
// and kube-proxy in iptables mode, so that pods really run and Services really
// route.
type Node struct {
	*APIServer
	// Name is the node's name in the API.
	Name string
	// IP is the node's address, on a veth end in 198.18.0.0/15.
	IP string
	// PodSubnet is the range pods get their addresses from.
	PodSubnet string
	// ContainerdSocket is the node's containerd, for ctr --address.
	ContainerdSocket string
}

// nodeBinaries are what a node needs besides Start's: the testbed's Kubernetes
// binaries and Debian's containerd, runc and CNI plugins.
var nodeBinaries = []string{"kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

// missingNode lists what StartNode lacks on this machine, with how to get it.
func missingNode() []string {
	var missing, kube, debian []string
	for _, b := range append([]string{"kube-apiserver"}, nodeBinaries...) {
		if _, err := os.Stat(filepath.Join(BinDir(), b)); err != nil {
			kube = append(kube, b)
		}
	}
	if len(kube) > 0 {
		missing = append(missing, strings.Join(kube, ", ")+" in "+BinDir()+" (run scripts/kube-testbed build all)")
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "iptables", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			debian = append(debian, b)
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			debian = append(debian, "/usr/lib/cni/"+p)
		}
	}
	if len(debian) > 0 {
		missing = append(missing, strings.Join(debian, ", ")+
			" (apt-get install containerd runc containernetworking-plugins iptables iproute2)")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the kubelet and containerd need it)")
	}
	return missing
}

// StartNode starts a Kubernetes node on top of Start's API server and returns once
// the node is Ready, schedulable and the default namespace's service account
// exists. Everything is stopped by PID and the host's network cleaned when the
// test ends. When a part is missing the test is skipped with the commands that
// provide it, unless PROSPER_REQUIRE_KUBE=1, in which case it fails. Nodes on one
// machine run one at a time.
func StartNode(t testing.TB) *Node {
	t.Helper()
	if missing := missingNode(); len(missing) > 0 {
		msg := "kubetest: node needs " + strings.Join(missing, "; ")
		if os.Getenv(EnvRequireKube) == "1" {
			t.Fatal(msg + "; " + EnvRequireKube + "=1 forbids skipping")
		}
		t.Skip(msg)
	}
	lockNode(t)
	// The node's address first: the API server listens on it, so that pods
	// reach it (in-cluster clients) as well as the host.
	netnsBefore := netnsNames()
	t.Cleanup(func() { cleanNetwork(t, netnsBefore) })
	if err := setupVeth(); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	s := start(t, nodeIP)
	n := &Node{APIServer: s, Name: NodeName, IP: nodeIP, PodSubnet: podSubnet}
	if err := n.start(t); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return n
}

// lockNode takes the machine's node lock until the test ends.
func lockNode(t testing.TB) {
	f, err := os.OpenFile(nodeLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("kubetest: node lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("kubetest: node lock: %v", err)
	}
	t.Cleanup(func() { f.Close() })
}

// start brings the node's parts up in order. Their clean-ups are registered so
// that, run last-first, the kubelet stops before the tasks are killed, the tasks
// before containerd, and containerd before the network and mounts are cleaned.
func (n *Node) start(t testing.TB) error {
	dir := n.Dir
	runDir, err := os.MkdirTemp("", "kn")
	if err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	t.Cleanup(func() {
		cleanIptables(t)
		unmountUnder(t, runDir)
		unmountUnder(t, dir)
		_ = os.RemoveAll(runDir)
	})

	socket, err := startContainerd(t, dir, runDir)
	if err != nil {
		return err
	}
	n.ContainerdSocket = socket
	t.Cleanup(func() { killTasks(t, socket) })
	if err := importImage(socket, GoImage(t, pauseImage, pauseSource)); err != nil {
		return fmt.Errorf("pause image: %w", err)
	}

	bin := BinDir()
	certs := filepath.Join(dir, "certs")
	kcmPort, err := freePort()
	if err != nil {
		return err
	}
	if _, err := run(t, dir, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+n.Kubeconfig,
		"--authentication-kubeconfig="+n.Kubeconfig,
		"--authorization-kubeconfig="+n.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--cert-dir="+filepath.Join(dir, "kcm-certs"),
		"--leader-elect=false",
		// nodelifecycle on: it removes the not-ready taint. No node IPAM: the CNI
		// plugin assigns pod addresses from its own range.
		"--controllers=*,-nodeipam",
		"--service-account-private-key-file="+filepath.Join(dir, "sa.key"),
		"--root-ca-file="+filepath.Join(certs, "apiserver.crt"),
		"--use-service-account-credentials=false",
	); err != nil {
		return err
	}
	schedPort, err := freePort()
	if err != nil {
		return err
	}
	if _, err := run(t, dir, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+n.Kubeconfig,
		"--authentication-kubeconfig="+n.Kubeconfig,
		"--authorization-kubeconfig="+n.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(dir, "scheduler-certs"),
		"--leader-elect=false",
	); err != nil {
		return err
	}
	if err := n.startKubelet(t, dir, socket); err != nil {
		return err
	}
	if err := n.startProxy(t, dir); err != nil {
		return err
	}
	return n.waitReady()
}

func (n *Node) startKubelet(t testing.TB, dir, socket string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	healthz, err := freePort()
	if err != nil {
		return err
	}
	root := filepath.Join(dir, "kubelet")
	config := filepath.Join(dir, "kubelet.yaml")
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
# A test machine's disk may be fuller than the defaults allow; evictions would
# make the pods come and go for reasons no test is about.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
registerNode: true
nodeStatusUpdateFrequency: 2s
syncFrequency: 5s
fileCheckFrequency: 5s
`, n.IP, port, healthz, socket, filepath.Join(dir, "pod-logs"))
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("write kubelet config: %w", err)
	}
	_, err = run(t, dir, "kubelet", filepath.Join(BinDir(), "kubelet"),
		"--config="+config,
		"--kubeconfig="+n.Kubeconfig,
		"--root-dir="+root,
		"--cert-dir="+filepath.Join(root, "pki"),
		"--hostname-override="+n.Name,
		"--node-ip="+n.IP,
	)
	return err
}

func (n *Node) startProxy(t testing.TB, dir string) error {
	healthz, err := freePort()
	if err != nil {
		return err
	}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	bin := filepath.Join(BinDir(), "kube-proxy")
	// Registered before kube-proxy's own stop, so it runs after it: kube-proxy
	// removes its iptables chains itself.
	t.Cleanup(func() {
		if _, err := sh(bin, "--cleanup"); err != nil {
			t.Logf("kubetest clean-up: %v", err)
		}
	})
	_, err = run(t, dir, "kube-proxy", bin,
		"--kubeconfig="+n.Kubeconfig,
		"--proxy-mode=iptables",
		"--hostname-override="+n.Name,
		"--cluster-cidr="+n.PodSubnet,
		"--healthz-bind-address=127.0.0.1:"+strconv.Itoa(healthz),
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metrics),
		// Leave the host's conntrack settings alone.
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
	)
	return err
}

// waitReady waits until the node is Ready without the not-ready taint and the
// default service account exists, so that pods can be created and scheduled.
func (n *Node) waitReady() error {
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeReadyTimeout)
	defer cancel()
	var last string
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		last = n.notReady(ctx, cs)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node not ready after %s: %s\nkubelet log:\n%s", nodeReadyTimeout, last, tailFile(filepath.Join(n.Dir, "kubelet.log")))
		case <-tick.C:
		}
	}
}

// notReady says what the node still lacks, or "" when it is ready for pods.
func (n *Node) notReady(ctx context.Context, cs kubernetes.Interface) string {
	node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		return "node: " + err.Error()
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status != corev1.ConditionTrue {
				return "Ready " + string(c.Status) + ": " + c.Message
			}
			ready = true
		}
	}
	if !ready {
		return "no Ready condition"
	}
	for _, taint := range node.Spec.Taints {
		if taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute {
			return "taint " + taint.Key
		}
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "default service account: " + err.Error()
	}
	return ""
}

// ImportImage loads an OCI or docker image tarball (GoImage's, or
// go-containerregistry's tarball.WriteToFile) into the node's containerd, in the
// namespace the kubelet uses, so that pods can run it with imagePullPolicy: Never.
func (n *Node) ImportImage(t testing.TB, tarball string) {
	t.Helper()
	if err := importImage(n.ContainerdSocket, tarball); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
}

// tailFile returns the end of a log file, for an error message.
func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
