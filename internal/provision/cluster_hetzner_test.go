package provision_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim/simhost"
	"github.com/prosperhq/prosper/internal/provision/hetzner"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// hetznerFile is a Hetzner cluster of one control plane, a pool "workers"
// of workers nodes and standby nodes, with the firewall rules given.
func hetznerFile(name string, workers, standby int, firewall string) []byte {
	return fmt.Appendf(nil, `apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: %s}
spec:
  provider:
    hetzner: {locations: [fsn1, nbg1], image: ubuntu-24.04}
  k3s: {version: %s}
  controlPlane: {count: 1, serverType: cx22}
  pools: [{name: workers, count: %d, serverType: cx22}]
  standby: %d
  firewall: [%s]
  platform: {postgres: {enabled: false}}
`, name, k3sVersion, workers, standby, firewall)
}

// hetznerRig runs the engine with the Hetzner provider against a simulator
// whose servers are real hosts.
type hetznerRig struct {
	t          *testing.T
	cloud      *simhost.Cloud
	api        *hcloud.Client
	dir        string
	kubeconfig string
	binary     string
	out        *syncBuffer
}

func newHetznerRig(t *testing.T) *hetznerRig {
	r := &hetznerRig{t: t, out: &syncBuffer{}, dir: t.TempDir()}
	r.cloud = simhost.Start(t, simhost.Options{
		Sim:  hcloudsim.Options{ServerBootDuration: 300 * time.Millisecond},
		Real: func(name string) bool { return !strings.HasPrefix(name, "foreign") },
	})
	r.api = hcloud.NewClient(hcloud.WithToken(simhost.Token), hcloud.WithEndpoint(r.cloud.URL),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(50 * time.Millisecond)}))
	r.kubeconfig = filepath.Join(r.dir, "kube", "config")
	r.binary, _ = fakek3s.Build(t, k3sVersion)
	return r
}

func (r *hetznerRig) engine(data []byte) *provision.Engine {
	r.t.Helper()
	c, err := clusterfile.Parse("cluster.yaml", data)
	if err != nil {
		r.t.Fatal(err)
	}
	// The hosts live on 198.19.0.0/16: with the network on that range a
	// server's private IP is its host's address. A cluster file cannot say
	// so (it takes RFC 1918 ranges only), the engine takes it as it is.
	c.Spec.Network.CIDR = "198.19.0.0/16"
	pr, err := hetzner.New(hetzner.Options{Token: simhost.Token, Endpoint: r.cloud.URL, PollInterval: 50 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	return &provision.Engine{
		Cluster: c, Provider: pr, State: provision.StateFor(filepath.Join(r.dir, "clusters"), c.Metadata.Name),
		Out: r.out, Kubeconfig: r.kubeconfig, ClusterFile: data,
		K3s:          provision.K3sSource{Binary: r.binary},
		SSHWait:      sshx.Backoff{Deadline: 20 * time.Second},
		ReadyTimeout: 30 * time.Second,
		Platform:     platformManifests,
	}
}

// servers are the names of the cluster's servers in the simulator, with
// their pool label.
func (r *hetznerRig) servers(cluster string) map[string]string {
	r.t.Helper()
	srvs, err := r.api.Server.AllWithOpts(context.Background(), hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterfile.LabelCluster + "=" + cluster}})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range srvs {
		out[s.Name] = s.Labels[clusterfile.LabelPool] + "/" + s.Labels[clusterfile.LabelRole]
	}
	return out
}

// delta is how many calls each route received since before.
func callDelta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// TestClusterOnHetzner runs the engine with the Hetzner provider against the
// simulator, every server a real SSH host with the fake k3s: create, create
// again, a firewall change, scale up by promoting the standby node, scale
// down, delete, with another tenant's resources in the project that must
// survive all of it.
func TestClusterOnHetzner(t *testing.T) {
	t.Parallel()
	r := newHetznerRig(t)
	ctx := context.Background()

	// Someone else's server, network and firewall, in the same project.
	fnet, _, err := r.api.Network.Create(ctx, hcloud.NetworkCreateOpts{Name: "foreign", IPRange: mustNet(t, "198.18.0.0/16"),
		Labels:  map[string]string{"owner": "someone"},
		Subnets: []hcloud.NetworkSubnet{{Type: hcloud.NetworkSubnetTypeCloud, IPRange: mustNet(t, "198.18.1.0/24"), NetworkZone: hcloud.NetworkZoneEUCentral}}})
	if err != nil {
		t.Fatal(err)
	}
	ffw, _, err := r.api.Firewall.Create(ctx, hcloud.FirewallCreateOpts{Name: "foreign", Labels: map[string]string{clusterfile.LabelCluster: "other"},
		Rules: []hcloud.FirewallRule{{Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP, Port: hcloud.Ptr("22"), SourceIPs: []net.IPNet{*mustNet(t, "198.18.0.0/15")}}}})
	if err != nil {
		t.Fatal(err)
	}
	fsrv, _, err := r.api.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "foreign-1", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Networks: []*hcloud.Network{fnet}, Firewalls: []*hcloud.ServerCreateFirewall{{Firewall: *ffw.Firewall}},
		Labels: map[string]string{clusterfile.LabelCluster: "other", clusterfile.LabelPool: "workers"}})
	if err != nil {
		t.Fatal(err)
	}

	fw := `{port: "22", sources: [198.18.0.0/15]}, {port: "6443", sources: [198.18.0.0/15]}`
	started := time.Now()
	before := r.cloud.Calls()
	if err := r.engine(hetznerFile("lab", 1, 1, fw)).Create(ctx); err != nil {
		t.Fatalf("create: %v\n%s", err, r.out.take())
	}
	calls := callDelta(before, r.cloud.Calls())
	t.Logf("create took %s:\n%s", time.Since(started).Round(time.Millisecond), r.out.take())
	got := nodes(t, r.kubeconfig, "lab")
	if len(got) != 3 || got["lab-workers-1"] != "workers" || got["lab-standby-1"] != "standby prosper.dev/standby=true:NoSchedule" ||
		!strings.Contains(got["lab-cp-1"], "node-role.kubernetes.io/control-plane=true:NoSchedule") {
		t.Fatalf("nodes after create: %v", got)
	}
	// Every node is a real host that logged in over the address the
	// simulator gave its server.
	if names := r.cloud.Names(); !slices.Equal(names, []string{"lab-cp-1", "lab-standby-1", "lab-workers-1"}) {
		t.Errorf("hosts %v", names)
	}
	others := 0
	for route, n := range calls {
		if route != "GET /actions" {
			others += n
		}
	}
	perNode := float64(others) / 3
	t.Logf("create: %d calls besides GET /actions, %.2f per node: %v", others, perNode, calls)
	if calls["POST /servers"] != 3 {
		t.Errorf("POST /servers = %d, want 3", calls["POST /servers"])
	}
	// The floor for this cluster: the engine's list of machines, five lists
	// (keys, network, firewall, placement groups, servers), the key, the
	// network, the firewall, a spread group per pool (3) and a server per
	// node (3): 15, 5 per node; bigger clusters share the fixed part (the
	// 8-node test of package hetzner stays under 4).
	if others > 15 {
		t.Errorf("%d API calls besides GET /actions (%.2f per node), want <= 15: %v", others, perNode, calls)
	}

	// Again, with one more firewall rule: no server is created, the
	// firewall's rules are set once.
	fw2 := fw + `, {port: "443", sources: [198.18.0.0/15]}`
	before = r.cloud.Calls()
	if err := r.engine(hetznerFile("lab", 1, 1, fw2)).Create(ctx); err != nil {
		t.Fatalf("create again: %v\n%s", err, r.out.take())
	}
	again := callDelta(before, r.cloud.Calls())
	r.out.take()
	if again["POST /servers"] != 0 || again["POST /firewalls/{id}/actions/set_rules"] != 1 || again["POST /firewalls"] != 0 {
		t.Errorf("create again with a new firewall rule: %v", again)
	}
	if fws, _ := r.api.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterfile.LabelCluster + "=lab"}}); len(fws) != 1 || len(fws[0].Rules) != 3 {
		t.Errorf("the cluster's firewall after the change: %+v", fws)
	}

	// Scale the pool to 2: the standby node is promoted at once and a new
	// standby server is created.
	before = r.cloud.Calls()
	if err := r.engine(hetznerFile("lab", 2, 1, fw2)).Scale(ctx); err != nil {
		t.Fatalf("scale up: %v\n%s", err, r.out.take())
	}
	up := r.out.take()
	scaled := callDelta(before, r.cloud.Calls())
	if !strings.Contains(up, "promoted into pool workers") {
		t.Errorf("scale up did not promote:\n%s", up)
	}
	got = nodes(t, r.kubeconfig, "lab")
	if len(got) != 4 || got["lab-standby-1"] != "workers" || got["lab-workers-1"] != "workers" ||
		got["lab-standby-2"] != "standby prosper.dev/standby=true:NoSchedule" {
		t.Errorf("nodes after scale up: %v", got)
	}
	want := map[string]string{"lab-cp-1": "control-plane/control-plane", "lab-workers-1": "workers/worker",
		"lab-standby-1": "workers/worker", "lab-standby-2": "standby/standby"}
	if srvs := r.servers("lab"); fmt.Sprint(srvs) != fmt.Sprint(want) {
		t.Errorf("servers after scale up: %v, want %v", srvs, want)
	}
	if scaled["POST /servers"] != 1 || scaled["PUT /servers/{id}"] != 1 {
		t.Errorf("scale up calls: %v, want one POST /servers (the new standby) and one PUT (the promoted one's labels)", scaled)
	}

	// Back to 1: one worker drained and its server deleted.
	if err := r.engine(hetznerFile("lab", 1, 1, fw2)).Scale(ctx); err != nil {
		t.Fatalf("scale down: %v\n%s", err, r.out.take())
	}
	down := r.out.take()
	if strings.Count(down, "drained") != 1 {
		t.Errorf("scale down drained %d nodes, want 1:\n%s", strings.Count(down, "drained"), down)
	}
	got = nodes(t, r.kubeconfig, "lab")
	srvs := r.servers("lab")
	if len(got) != 3 || len(srvs) != 3 || got["lab-workers-1"] != "workers" || got["lab-standby-2"] == "" {
		t.Errorf("after scale down: nodes %v, servers %v", got, srvs)
	}
	if d := r.cloud.Deleted(); len(d) != 1 || got[d[0]] != "" || srvs[d[0]] != "" {
		t.Errorf("deleted servers %v; nodes %v", d, got)
	}

	// Delete: nothing of the cluster is left; the other tenant's are.
	if err := r.engine(hetznerFile("lab", 1, 1, fw2)).Delete(ctx); err != nil {
		t.Fatalf("delete: %v\n%s", err, r.out.take())
	}
	r.out.take()
	assertNoneLabelled(t, r.api, "lab")
	if s, _, err := r.api.Server.GetByID(ctx, fsrv.Server.ID); err != nil || s == nil || s.Labels[clusterfile.LabelCluster] != "other" || len(s.PrivateNet) != 1 {
		t.Errorf("the foreign server after delete: %+v, %v", s, err)
	}
	if n, _, err := r.api.Network.GetByID(ctx, fnet.ID); err != nil || n == nil {
		t.Errorf("the foreign network after delete: %v", err)
	}
	if f, _, err := r.api.Firewall.GetByID(ctx, ffw.Firewall.ID); err != nil || f == nil || len(f.Rules) != 1 || len(f.AppliedTo) != 1 {
		t.Errorf("the foreign firewall after delete: %+v, %v", f, err)
	}
}

// TestClusterOnHetznerServerCreateFails fails one server's create midway:
// the create names the node and a re-run converges with no duplicate.
func TestClusterOnHetznerServerCreateFails(t *testing.T) {
	t.Parallel()
	r := newHetznerRig(t)
	ctx := context.Background()
	fw := `{port: "22", sources: [198.18.0.0/15]}`
	data := hetznerFile("edge", 1, 0, fw)
	// The second server create of two is refused, after the first went through.
	r.cloud.InjectFault(hcloudsim.Fault{Route: "POST /servers", Nth: 2, Code: "placement_error"})
	err := r.engine(data).Create(ctx)
	out := r.out.take()
	if err == nil {
		t.Fatalf("create with a failing server create succeeded:\n%s", out)
	}
	srvs := r.servers("edge")
	if len(srvs) != 1 {
		t.Fatalf("servers after the failed create: %v, want the one that was created", srvs)
	}
	var failed string
	for _, n := range []string{"edge-cp-1", "edge-workers-1"} {
		if _, ok := srvs[n]; !ok {
			failed = n
		}
	}
	if !strings.Contains(err.Error(), failed) || !strings.Contains(err.Error(), "placement") {
		t.Errorf("the error does not name %s and why: %v", failed, err)
	}

	before := r.cloud.Calls()
	if err := r.engine(data).Create(ctx); err != nil {
		t.Fatalf("re-run: %v\n%s", err, r.out.take())
	}
	r.out.take()
	if d := callDelta(before, r.cloud.Calls()); d["POST /servers"] != 1 {
		t.Errorf("the re-run made %d POST /servers, want 1 (%s)", d["POST /servers"], failed)
	}
	if srvs := r.servers("edge"); len(srvs) != 2 {
		t.Errorf("servers after the re-run: %v", srvs)
	}
	if got := nodes(t, r.kubeconfig, "edge"); len(got) != 2 {
		t.Errorf("nodes after the re-run: %v", got)
	}
	if err := r.engine(data).Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertNoneLabelled(t, r.api, "edge")
}

// assertNoneLabelled fails unless the project holds nothing of cluster.
func assertNoneLabelled(t *testing.T, api *hcloud.Client, cluster string) {
	t.Helper()
	ctx := context.Background()
	lo := hcloud.ListOpts{LabelSelector: clusterfile.LabelCluster + "=" + cluster}
	srvs, err1 := api.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: lo})
	nets, err2 := api.Network.AllWithOpts(ctx, hcloud.NetworkListOpts{ListOpts: lo})
	fws, err3 := api.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: lo})
	pgs, err4 := api.PlacementGroup.AllWithOpts(ctx, hcloud.PlacementGroupListOpts{ListOpts: lo})
	keys, err5 := api.SSHKey.AllWithOpts(ctx, hcloud.SSHKeyListOpts{ListOpts: lo})
	if err := fmt.Sprint(err1, err2, err3, err4, err5); err != "<nil> <nil> <nil> <nil> <nil>" {
		t.Fatal(err)
	}
	if n := len(srvs) + len(nets) + len(fws) + len(pgs) + len(keys); n != 0 {
		t.Errorf("after delete the project still holds %d servers, %d networks, %d firewalls, %d placement groups, %d keys of %s",
			len(srvs), len(nets), len(fws), len(pgs), len(keys), cluster)
	}
}

func mustNet(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
