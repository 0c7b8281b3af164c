package fakek3s_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

const (
	version = "v1.31.4+k3s1"
	token   = "0123456789abcdefTOKEN"
)

// node is a test host with the fakes installed and an SSH client to it.
type node struct {
	h *testhost.Host
	c *sshx.Client
}

func newNode(t *testing.T, opts fakek3s.Options) node {
	t.Helper()
	h := testhost.New(t, testhost.Options{})
	fakek3s.Install(t, h, opts)
	_, line, signer, err := sshx.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	h.Authorize(line)
	kh, err := sshx.NewKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sshx.Dial(context.Background(), sshx.Config{Addr: h.Addr(), Signer: signer, HostKeyCallback: kh.Callback(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return node{h, c}
}

// install uploads the fake k3s and runs prosper's install script over SSH.
func (n node) install(t *testing.T, k provision.K3sInstall) (string, error) {
	t.Helper()
	bin, sum := fakek3s.Build(t, version)
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	if err := n.c.Upload(ctx, f, "/var/lib/prosper/k3s", 0o755); err != nil {
		t.Fatal(err)
	}
	k.Version, k.SHA256, k.Uploaded, k.Token = version, sum, "/var/lib/prosper/k3s", cmpOr(k.Token, token)
	script, err := k.Script()
	if err != nil {
		t.Fatal(err)
	}
	return n.c.Output(ctx, script)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// client is a Kubernetes client from the first server's kubeconfig, pointed
// at its address instead of 127.0.0.1.
func client(t *testing.T, n node) *kubernetes.Clientset {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.h.Root(), "etc/rancher/k3s/k3s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "server: https://127.0.0.1:6443") || !strings.Contains(string(data), "current-context: default") {
		t.Fatalf("kubeconfig:\n%s", data)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(strings.Replace(string(data), "127.0.0.1", n.h.IP(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestServerAgentJoin(t *testing.T) {
	ctx := context.Background()
	a, b := newNode(t, fakek3s.Options{}), newNode(t, fakek3s.Options{})
	if out, err := a.c.Output(ctx, "command -v systemctl; command -v journalctl"); err != nil || out != "/usr/local/bin/systemctl\n/usr/local/bin/journalctl\n" {
		t.Fatalf("the fakes are not first on root's PATH over SSH: %q, %v", out, err)
	}
	out, err := a.install(t, provision.K3sInstall{Role: provision.K3sFirstServer, NodeName: "acme-cp-1", NodeIP: a.h.IP(),
		Taints: []string{"node-role.kubernetes.io/control-plane=true:NoSchedule"}})
	if err != nil || !strings.Contains(out, "k3s "+version+" server on acme-cp-1: ok") {
		t.Fatalf("install first server: %q, %v\n%s", out, err, fakek3s.Log(a.h, "k3s"))
	}
	out, err = b.install(t, provision.K3sInstall{Role: provision.K3sAgent, NodeName: "acme-workers-1", NodeIP: b.h.IP(),
		ServerURL: "https://" + a.h.IP() + ":6443", Labels: map[string]string{"prosper.dev/pool": "workers"},
		Taints: []string{"prosper.dev/standby=true:NoSchedule"}})
	if err != nil {
		t.Fatalf("install agent: %q, %v\n%s", out, err, fakek3s.Log(b.h, "k3s-agent"))
	}

	cs := client(t, a)
	v, err := cs.Discovery().ServerVersion()
	if err != nil || v.GitVersion != version {
		t.Fatalf("version: %+v, %v", v, err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes.Items {
		ready := len(n.Status.Conditions) > 0 && n.Status.Conditions[0].Type == corev1.NodeReady && n.Status.Conditions[0].Status == corev1.ConditionTrue
		got = append(got, n.Name+" "+n.Status.Addresses[0].Address+" "+n.Labels["prosper.dev/pool"]+" "+n.Spec.Taints[0].ToString()+" "+map[bool]string{true: "Ready"}[ready])
	}
	want := "acme-cp-1 " + a.h.IP() + "  node-role.kubernetes.io/control-plane=true:NoSchedule Ready\n" +
		"acme-workers-1 " + b.h.IP() + " workers prosper.dev/standby=true:NoSchedule Ready"
	if strings.Join(got, "\n") != want {
		t.Fatalf("nodes:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}

	// Promote the standby as prosper will: relabel and drop the taint.
	nodesAPI := cs.CoreV1().Nodes()
	if _, err := nodesAPI.Patch(ctx, "acme-workers-1", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"prosper.dev/pool":"web","prosper.dev/standby":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodesAPI.Patch(ctx, "acme-workers-1", types.StrategicMergePatchType,
		[]byte(`{"spec":{"$setElementOrder/taints":[],"taints":[{"$patch":"delete","key":"prosper.dev/standby"}]}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A restart of the first server keeps the node list and what was patched.
	if _, err := a.c.Output(ctx, "systemctl restart k3s && systemctl is-active k3s"); err != nil {
		t.Fatal(err)
	}
	n, err := nodesAPI.Get(ctx, "acme-workers-1", metav1.GetOptions{})
	if err != nil || n.Labels["prosper.dev/pool"] != "web" || len(n.Spec.Taints) != 0 {
		t.Fatalf("after patches and a restart: labels %v taints %v, %v", n.Labels, n.Spec.Taints, err)
	}
	if err := nodesAPI.Delete(ctx, "acme-workers-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodesAPI.Get(ctx, "acme-workers-1", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("get a deleted node: %v", err)
	}

	// Running the install again changes nothing: the server keeps its pid.
	pid := func() string {
		data, _ := os.ReadFile(filepath.Join(a.h.Root(), fakek3s.StateDir, "k3s.pid"))
		return string(data)
	}
	before := pid()
	if _, err := a.install(t, provision.K3sInstall{Role: provision.K3sFirstServer, NodeName: "acme-cp-1", NodeIP: a.h.IP(),
		Taints: []string{"node-role.kubernetes.io/control-plane=true:NoSchedule"}}); err != nil {
		t.Fatal(err)
	}
	if after := pid(); after != before || before == "" {
		t.Fatalf("the unchanged install restarted k3s: pid %q then %q", before, after)
	}
}

func TestJoinFailures(t *testing.T) {
	a, b := newNode(t, fakek3s.Options{}), newNode(t, fakek3s.Options{})
	if _, err := a.install(t, provision.K3sInstall{Role: provision.K3sFirstServer, NodeName: "acme-cp-1", NodeIP: a.h.IP()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, server, token, want string
	}{
		{"wrong token", "https://" + a.h.IP() + ":6443", "0123456789abcdefWRONG", "token is not valid"},
		// Nothing listens on b's own 6443.
		{"unreachable server", "https://" + b.h.IP() + ":6443", "", "failed to get CA certs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := b.install(t, provision.K3sInstall{Role: provision.K3sAgent, NodeName: "acme-workers-1",
				ServerURL: tt.server, Token: tt.token})
			if err == nil {
				t.Fatalf("install succeeded: %q", out)
			}
			if !strings.Contains(err.Error(), "Job for k3s-agent.service failed") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v lacks the unit failure and %q", err, tt.want)
			}
			if out, _ := b.c.Output(context.Background(), "systemctl is-active k3s-agent || true"); out != "inactive\n" {
				t.Fatalf("is-active after a failed start: %q", out)
			}
		})
	}
}

func TestFirstServerNeedsClusterInit(t *testing.T) {
	a := newNode(t, fakek3s.Options{})
	// A "server" without cluster-init and without a server to join.
	if _, err := a.install(t, provision.K3sInstall{Role: provision.K3sFirstServer, NodeName: "acme-cp-1"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.c.Output(ctx, "systemctl stop k3s && sed -i '/cluster-init/d' /etc/rancher/k3s/config.yaml"); err != nil {
		t.Fatal(err)
	}
	_, err := a.c.Output(ctx, "systemctl start k3s")
	if err == nil || !strings.Contains(err.Error(), "cluster-init") {
		t.Fatalf("start without cluster-init: %v", err)
	}
	if out, err := a.c.Output(ctx, "journalctl -u k3s -n 3"); err != nil || !strings.Contains(out, "level=fatal") {
		t.Fatalf("journalctl: %q, %v", out, err)
	}
}

func TestCloudInitStatus(t *testing.T) {
	a := newNode(t, fakek3s.Options{CloudInit: true, DoneAfter: time.Hour})
	ctx := context.Background()
	if out, err := a.c.Output(ctx, "cloud-init status"); err != nil || out != "status: running\n" {
		t.Fatalf("before: %q, %v", out, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		out, _ := a.c.Output(wctx, "cloud-init status --wait")
		done <- out
	}()
	fakek3s.CloudInitDone(t, a.h)
	if out := <-done; !strings.HasSuffix(out, "status: done\n") {
		t.Fatalf("status --wait: %q", out)
	}
	if out, err := a.c.Output(ctx, "cloud-init status"); err != nil || out != "status: done\n" {
		t.Fatalf("after: %q, %v", out, err)
	}
}
