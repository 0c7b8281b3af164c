package hetzner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
)

func TestEnsureCreatesLabelledClusterWithFewCalls(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	pr := newProvider(t, sim)
	c := testCluster("acme", 3, 5)
	nodes := c.Plan()

	plan, err := pr.Plan(context.Background(), c, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"upload ssh key acme", "create network acme (10.0.0.0/16, eu-central)", "create placement group acme-control-plane-1 (spread)", "create server acme-cp-1 (cpx21, fsn1)", "create server acme-workers-2 (cx22, nbg1)"} {
		if !contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(plan, "\n"))
		}
	}
	if n := sum(sim.Calls(), "GET /ssh_keys", "GET /networks", "GET /firewalls", "GET /placement_groups", "GET /servers"); n != 0 {
		t.Errorf("plan made %d calls that are not lists: %v", n, sim.Calls())
	}

	before := sim.Calls()
	ms, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	calls := delta(before, sim.Calls())
	if len(ms) != len(nodes) {
		t.Fatalf("got %d machines, want %d", len(ms), len(nodes))
	}
	for i, m := range ms {
		if m.Name != nodes[i].Name || m.Status != "running" || m.PublicIP == "" || m.PrivateIP == "" ||
			m.SSHAddr != m.PublicIP+":22" || m.SSHUser != "root" || m.Labels[clusterfile.LabelCluster] != "acme" || m.Pool != nodes[i].Pool {
			t.Errorf("machine %d = %+v", i, m)
		}
		if !strings.HasPrefix(m.PrivateIP, "10.0.") {
			t.Errorf("machine %s private IP %s is not in 10.0.0.0/16", m.Name, m.PrivateIP)
		}
	}
	perNode := float64(sum(calls, "GET /actions")) / float64(len(nodes))
	t.Logf("calls: %v (%.2f per node besides GET /actions)", calls, perNode)
	if perNode > 4 {
		t.Errorf("%.2f API calls per node besides action polling, want <= 4: %v", perNode, calls)
	}
	if calls["POST /servers"] != len(nodes) {
		t.Errorf("POST /servers = %d, want %d", calls["POST /servers"], len(nodes))
	}
	if calls["POST /placement_groups"] != 2 { // control-plane-1, workers-1
		t.Errorf("POST /placement_groups = %d, want 2", calls["POST /placement_groups"])
	}
	for _, n := range nodes {
		if !strings.Contains(out, n.Name) || !strings.Contains(out, "server running") {
			t.Errorf("progress does not report %s running:\n%s", n.Name, out)
		}
	}
	assertAllLabelled(t, sim, "acme")

	// Everything exists: a second run creates nothing.
	before = sim.Calls()
	ms2, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("second ensure: %v\n%s", err, out)
	}
	for route, n := range delta(before, sim.Calls()) {
		if strings.HasPrefix(route, "POST") && !strings.HasPrefix(route, "POST /ssh_keys") {
			t.Errorf("second ensure: %d × %s", n, route)
		}
	}
	if fmt.Sprint(ms2) != fmt.Sprint(ms) {
		t.Errorf("second ensure returned %v, want %v", ms2, ms)
	}
	plan, err = pr.Plan(context.Background(), c, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range plan {
		if strings.HasPrefix(line, "create") {
			t.Errorf("plan after ensure: %q", line)
		}
	}
}

// assertAllLabelled checks every resource of the project carries the label.
func assertAllLabelled(t *testing.T, sim *hcloudsim.Sim, cluster string) {
	t.Helper()
	ctx := context.Background()
	cl := client(sim)
	check := func(kind, name string, labels map[string]string) {
		if labels[clusterfile.LabelCluster] != cluster {
			t.Errorf("%s %s has labels %v", kind, name, labels)
		}
	}
	srvs, _ := cl.Server.All(ctx)
	for _, s := range srvs {
		check("server", s.Name, s.Labels)
		if s.Labels[clusterfile.LabelPool] == "" || s.Labels[clusterfile.LabelRole] == "" || s.PlacementGroup == nil || len(s.PrivateNet) != 1 || len(s.PublicNet.Firewalls) != 1 {
			t.Errorf("server %s: labels %v, placement group %v, networks %d, firewalls %d", s.Name, s.Labels, s.PlacementGroup, len(s.PrivateNet), len(s.PublicNet.Firewalls))
		}
	}
	nets, _ := cl.Network.All(ctx)
	for _, n := range nets {
		check("network", n.Name, n.Labels)
	}
	fws, _ := cl.Firewall.All(ctx)
	for _, f := range fws {
		check("firewall", f.Name, f.Labels)
	}
	pgs, _ := cl.PlacementGroup.All(ctx)
	for _, g := range pgs {
		check("placement group", g.Name, g.Labels)
	}
	keys, _ := cl.SSHKey.All(ctx)
	for _, k := range keys {
		check("ssh key", k.Name, k.Labels)
	}
	if len(srvs) == 0 || len(nets) != 1 || len(fws) != 1 || len(keys) == 0 {
		t.Errorf("project holds %d servers, %d networks, %d firewalls, %d keys", len(srvs), len(nets), len(fws), len(keys))
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestEnsureWaitsOutRateLimit(t *testing.T) {
	// A bucket of 6 requests refilled every 40ms: the run hits the limit
	// over and over and must still converge without failing a create.
	sim := startSim(t, hcloudsim.Options{RateLimit: 6, RateRefill: 40 * 1e6})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 7)
	ms, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	if !strings.Contains(out, "rate limited by the Hetzner API: waiting") {
		t.Errorf("progress does not report the rate limit:\n%s", out)
	}
	if len(ms) != 8 {
		t.Fatalf("got %d machines", len(ms))
	}
	srvs, err := client(sim).Server.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(srvs) != 8 {
		t.Errorf("project holds %d servers, want 8", len(srvs))
	}
}

func TestEnsureDeletesFailedServerAndRerunConverges(t *testing.T) {
	var mu sync.Mutex
	fails := map[string]int{"acme-workers-2": 1}
	sim := startSim(t, hcloudsim.Options{OnServerCreate: func(name, _ string, _ []string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails[name] > 0 {
			fails[name]--
			return "", fmt.Errorf("disk image corrupted")
		}
		return "", nil
	}})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 3)
	_, out, err := ensure(t, pr, c)
	if err == nil || !strings.Contains(err.Error(), "acme-workers-2") || !strings.Contains(err.Error(), "disk image corrupted") {
		t.Fatalf("ensure error = %v, want acme-workers-2's failure", err)
	}
	if !strings.Contains(out, "acme-workers-2") || !strings.Contains(out, "deleting it so that a re-run creates it again") {
		t.Errorf("progress does not report the failure:\n%s", out)
	}
	names := serverNames(t, sim)
	if names["acme-workers-2"] != 0 || len(names) != 3 {
		t.Errorf("after the failure the project holds %v, want the 3 good servers", names)
	}

	ms, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	names = serverNames(t, sim)
	if len(ms) != 4 || len(names) != 4 {
		t.Errorf("re-run: %d machines, project holds %v", len(ms), names)
	}
	for n, count := range names {
		if count != 1 {
			t.Errorf("%d servers named %s", count, n)
		}
	}
}

func serverNames(t *testing.T, sim *hcloudsim.Sim) map[string]int {
	t.Helper()
	srvs, err := client(sim).Server.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range srvs {
		out[s.Name]++
	}
	return out
}

func TestEnsureRefusesForeignServerWithOurName(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	cl := client(sim)
	ctx := context.Background()
	_, _, err := cl.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "acme-cp-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
	if err != nil {
		t.Fatal(err)
	}
	pr := newProvider(t, sim)
	_, out, err := ensure(t, pr, testCluster("acme", 1, 0))
	if err == nil || !strings.Contains(err.Error(), "server named acme-cp-1 exists in the project but is not labelled prosper.dev/cluster=acme") {
		t.Fatalf("ensure error = %v\n%s", err, out)
	}
	srv, _, err := cl.Server.GetByName(ctx, "acme-cp-1")
	if err != nil || srv == nil || len(srv.Labels) != 0 {
		t.Errorf("the foreign server was touched: %+v, %v", srv, err)
	}
}
