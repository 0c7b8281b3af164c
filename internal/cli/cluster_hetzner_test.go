package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim/simhost"
)

// TestClusterCommandsOnHetzner runs "prosper cluster create" and "delete"
// against the Hetzner simulator (HCLOUD_ENDPOINT), whose servers are real
// SSH hosts with the fake k3s.
func TestClusterCommandsOnHetzner(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  provider:
    hetzner: {locations: [fsn1], image: ubuntu-24.04}
  k3s: {version: v1.31.4+k3s1}
  controlPlane: {count: 1, serverType: cx22}
  pools: [{name: workers, count: 1, serverType: cx22}]
  firewall: [{port: "22", sources: [198.18.0.0/15]}, {port: "6443", sources: [198.18.0.0/15]}]
  # A published image: building prosper's own needs the platform's
  # registry, which fake k3s does not run (see internal/provision).
  platform: {postgres: {enabled: false}, prosperImage: "registry.example/prosper:v1"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	state, kubeconfig := filepath.Join(dir, "clusters"), filepath.Join(dir, "kubeconfig")
	binary, _ := fakek3s.Build(t, "v1.31.4+k3s1")
	common := []string{"-f", file, "--state-dir", state, "--kubeconfig", kubeconfig}

	// Without a token nothing is tried, and the error says how to get one.
	t.Setenv("HCLOUD_TOKEN", "")
	t.Setenv("HCLOUD_ENDPOINT", "")
	fails(t, []string{"HCLOUD_TOKEN is not set", "API tokens"}, append([]string{"cluster", "create", "--k3s-binary", binary}, common...)...)
	if _, err := os.Stat(filepath.Join(state, "edge")); err == nil {
		t.Fatal("a create refused for a missing token left state behind")
	}

	cloud := simhost.Start(t, simhost.Options{Sim: hcloudsim.Options{ServerBootDuration: 300 * time.Millisecond}})
	t.Setenv("HCLOUD_TOKEN", simhost.Token)
	t.Setenv("HCLOUD_ENDPOINT", cloud.URL)
	out := ok(t, append([]string{"cluster", "create", "--k3s-binary", binary}, common...)...)
	for _, want := range []string{"machines (hetzner)", "edge-cp-1", "edge-workers-1", "server running", "Ready", "kubectl --context edge get nodes"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if cfg, err := clientcmd.LoadFromFile(kubeconfig); err != nil || cfg.Contexts["edge"] == nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	if got := cloud.Names(); fmt.Sprint(got) != "[edge-cp-1 edge-workers-1]" {
		t.Errorf("servers with hosts: %v", got)
	}

	fails(t, []string{"--yes"}, append([]string{"cluster", "delete"}, common...)...)
	ok(t, append([]string{"cluster", "delete", "--yes"}, common...)...)
	api := hcloud.NewClient(hcloud.WithToken(simhost.Token), hcloud.WithEndpoint(cloud.URL))
	left, err := api.Server.AllWithOpts(context.Background(), hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterfile.LabelCluster + "=edge"}})
	if err != nil || len(left) != 0 {
		t.Errorf("servers after delete: %v, %v", left, err)
	}
	fws, err := api.Firewall.All(context.Background())
	if err != nil || len(fws) != 0 {
		t.Errorf("firewalls after delete: %v, %v", fws, err)
	}
	if _, err := os.Stat(filepath.Join(state, "edge")); err == nil {
		t.Errorf("local state is still there after delete")
	}
}
