package provision_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshhosts"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

const k3sVersion = "v1.31.4+k3s1"

// syncBuffer is the engine's terminal, shared with the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func platformManifests(c clusterfile.Cluster) ([]provision.Manifest, error) {
	ms, err := platform.Manifests(c)
	if err != nil {
		return nil, err
	}
	out := make([]provision.Manifest, len(ms))
	for i, m := range ms {
		out[i] = provision.Manifest{Name: m.Name, Data: m.Data}
	}
	return out, nil
}

// nodes lists the cluster's nodes through the kubeconfig prosper merged, as
// kubectl would: name → pool label.
func nodes(t *testing.T, kubeconfig, cluster string) map[string]string {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: cluster}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range list.Items {
		out[n.Name] = n.Labels[clusterfile.LabelPool]
		for _, taint := range n.Spec.Taints {
			out[n.Name] += " " + taint.ToString()
		}
	}
	return out
}

// TestClusterOnSSHHosts creates a cluster on three real SSH hosts, runs the
// create again, scales a pool up and down, and deletes it, with everything
// real but the k3s binary.
func TestClusterOnSSHHosts(t *testing.T) {
	hosts := make([]*testhost.Host, 3)
	for i := range hosts {
		hosts[i] = testhost.New(t, testhost.Options{})
	}
	for _, h := range hosts {
		fakek3s.Install(t, h, fakek3s.Options{})
	}
	binary, _ := fakek3s.Build(t, k3sVersion)
	_, userKey, userSigner, err := sshx.GenerateKey("operator")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		h.Authorize(userKey)
	}
	dir := t.TempDir()
	file := func(workers int) []byte {
		return fmt.Appendf(nil, `apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  provider:
    ssh:
      hosts:
        - {address: %s, pool: control-plane}
        - {address: %s, pool: workers}
        - {address: %s, pool: workers}
  k3s: {version: %s}
  pools: [{name: workers, count: %d}]
  platform: {postgres: {enabled: false}}
`, hosts[0].IP(), hosts[1].IP(), hosts[2].IP(), k3sVersion, workers)
	}
	kubeconfig := filepath.Join(dir, "kube", "config")
	// An air-gap images archive made by the test: it must land where k3s
	// imports images from at start.
	images := filepath.Join(dir, "k3s-airgap-images-amd64.tar.zst")
	if err := os.WriteFile(images, []byte("images of the test"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	engine := func(data []byte) *provision.Engine {
		c, err := clusterfile.Parse("lab.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		st := provision.StateFor(filepath.Join(dir, "clusters"), "lab")
		return &provision.Engine{
			Cluster: c, State: st, Out: out, Kubeconfig: kubeconfig, ClusterFile: data,
			Provider: sshhosts.New(sshhosts.Options{KnownHostsPath: st.Path("known_hosts"), Signer: userSigner,
				Backoff: sshx.Backoff{Deadline: 20 * time.Second}}),
			K3s:          provision.K3sSource{Binary: binary, Images: images},
			SSHWait:      sshx.Backoff{Deadline: 20 * time.Second},
			ReadyTimeout: 30 * time.Second,
			Platform:     platformManifests,
		}
	}
	ctx := context.Background()

	// A dry run says what it would do and changes nothing.
	e := engine(file(1))
	e.DryRun = true
	if err := e.Create(ctx); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.take())
	}
	dry := out.take()
	t.Logf("dry run:\n%s", dry)
	for _, want := range []string{"would generate the cluster's SSH key", "lab-cp-1: install or update the k3s server", "would apply"} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry)
		}
	}
	if provision.StateFor(filepath.Join(dir, "clusters"), "lab").Exists() {
		t.Fatalf("the dry run made the cluster's key")
	}
	if _, err := os.Stat(hosts[0].Root() + "/usr/local/bin/k3s"); err == nil {
		t.Fatalf("the dry run installed k3s")
	}

	if err := engine(file(1)).Create(ctx); err != nil {
		t.Fatalf("create: %v\n%s", err, out.take())
	}
	first := out.take()
	t.Logf("create:\n%s", first)
	got := nodes(t, kubeconfig, "lab")
	if len(got) != 2 || got["lab-cp-1"] == "" || got["lab-workers-1"] != "workers" {
		t.Fatalf("nodes %v, want lab-cp-1 and lab-workers-1", got)
	}
	if !strings.Contains(got["lab-cp-1"], "node-role.kubernetes.io/control-plane=true:NoSchedule") {
		t.Errorf("the control plane is not tainted although a worker takes the workloads: %v", got)
	}
	for i, h := range hosts[:2] {
		got, err := os.ReadFile(h.Root() + "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst")
		if string(got) != "images of the test" {
			t.Errorf("host %d: air-gap images not uploaded: %q %v", i, got, err)
		}
	}
	manifests, _ := os.ReadDir(hosts[0].Root() + provision.ManifestsDir)
	if len(manifests) == 0 {
		t.Errorf("no platform manifests in k3s's auto-deploy directory on the first server")
	}

	// Run again: nothing is uploaded again, nothing restarted, same nodes.
	if err := engine(file(1)).Create(ctx); err != nil {
		t.Fatalf("create again: %v\n%s", err, out.take())
	}
	again := out.take()
	if strings.Contains(again, "binary uploaded") || strings.Contains(again, "images uploaded") {
		t.Errorf("the second create uploaded k3s again:\n%s", again)
	}
	if got := nodes(t, kubeconfig, "lab"); len(got) != 2 {
		t.Errorf("after a second create: %v", got)
	}

	// Scale the pool to 2, then back to 1.
	if err := engine(file(2)).Scale(ctx); err != nil {
		t.Fatalf("scale up: %v\n%s", err, out.take())
	}
	out.take()
	if got := nodes(t, kubeconfig, "lab"); len(got) != 3 || got["lab-workers-2"] != "workers" {
		t.Fatalf("after scale up: %v", got)
	}
	if err := engine(file(1)).Create(ctx); err == nil || !strings.Contains(err.Error(), "prosper cluster scale") {
		t.Fatalf("create with fewer nodes than exist: %v, want a pointer to scale", err)
	}
	if err := engine(file(1)).Scale(ctx); err != nil {
		t.Fatalf("scale down: %v\n%s", err, out.take())
	}
	down := out.take()
	if !strings.Contains(down, "lab-workers-2") || !strings.Contains(down, "drained") {
		t.Errorf("scale down did not drain lab-workers-2:\n%s", down)
	}
	if got := nodes(t, kubeconfig, "lab"); len(got) != 2 {
		t.Errorf("after scale down: %v", got)
	}
	if _, err := os.Stat(hosts[2].Root() + "/usr/local/bin/k3s"); err == nil {
		t.Errorf("k3s is still installed on the removed host")
	}

	// Delete: hosts clean, kubeconfig context and local state gone.
	if err := engine(file(1)).Delete(ctx); err != nil {
		t.Fatalf("delete: %v\n%s", err, out.take())
	}
	for i, h := range hosts[:2] {
		for _, path := range []string{"/usr/local/bin/k3s", sshhosts.MarkerPath, "/etc/rancher/k3s/config.yaml"} {
			if _, err := os.Stat(h.Root() + path); err == nil {
				t.Errorf("host %d still has %s after delete", i, path)
			}
		}
	}
	cfg, _ := clientcmd.LoadFromFile(kubeconfig)
	if _, ok := cfg.Contexts["lab"]; ok {
		t.Errorf("context lab is still in the kubeconfig")
	}
	if _, err := os.Stat(filepath.Join(dir, "clusters", "lab")); err == nil {
		t.Errorf("local state is still there")
	}
}
