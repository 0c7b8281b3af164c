package hetzner

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

func TestDeleteRemovesOnlyTheClustersResources(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	pr := newProvider(t, sim)
	cl := client(sim)
	ctx := context.Background()
	c := testCluster("acme", 1, 2)
	ms, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	ours := map[string]string{clusterfile.LabelCluster: "acme"}
	mustOK := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// What the cluster's workloads create, labelled through the CCM's and
	// the CSI driver's configuration: a load balancer, a volume attached to
	// a node and a detached one.
	node, _, err := cl.Server.GetByName(ctx, ms[1].Name)
	mustOK("get node", err)
	_, _, err = cl.LoadBalancer.Create(ctx, hcloud.LoadBalancerCreateOpts{Name: "acme-ingress", LoadBalancerType: &hcloud.LoadBalancerType{Name: "lb11"}, Location: &hcloud.Location{Name: "fsn1"}, Labels: ours})
	mustOK("create our load balancer", err)
	_, _, err = cl.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: "pvc-1", Size: 10, Server: node, Labels: ours})
	mustOK("create our attached volume", err)
	_, _, err = cl.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: "pvc-2", Size: 10, Location: &hcloud.Location{Name: "fsn1"}, Labels: ours})
	mustOK("create our volume", err)

	// Foreign resources in the same project, some with the cluster's name
	// as a prefix, one labelled for another cluster.
	other := map[string]string{clusterfile.LabelCluster: "acme-2"}
	foreign, _, err := cl.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "acme-cp-9", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
	mustOK("create foreign server", err)
	_, _, err = cl.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "web-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}, Labels: other})
	mustOK("create other cluster's server", err)
	_, cidr, _ := net.ParseCIDR("192.168.0.0/16")
	_, _, err = cl.Network.Create(ctx, hcloud.NetworkCreateOpts{Name: "acme-net", IPRange: cidr})
	mustOK("create foreign network", err)
	_, _, err = cl.Firewall.Create(ctx, hcloud.FirewallCreateOpts{Name: "acme-fw"})
	mustOK("create foreign firewall", err)
	_, _, err = cl.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "alice", PublicKey: newKey(t)})
	mustOK("create foreign key", err)
	_, _, err = cl.LoadBalancer.Create(ctx, hcloud.LoadBalancerCreateOpts{Name: "acme-lb", LoadBalancerType: &hcloud.LoadBalancerType{Name: "lb11"}, Location: &hcloud.Location{Name: "fsn1"}})
	mustOK("create foreign load balancer", err)
	_, _, err = cl.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: "acme-data", Size: 10, Server: foreign.Server, Labels: other})
	mustOK("create foreign volume", err)
	_, _, err = cl.PlacementGroup.Create(ctx, hcloud.PlacementGroupCreateOpts{Name: "acme-control-plane-9", Type: hcloud.PlacementGroupTypeSpread})
	mustOK("create foreign placement group", err)
	// Ours, but attached to a server that is not: detached, then deleted.
	_, _, err = cl.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: "pvc-3", Size: 10, Server: foreign.Server, Labels: ours})
	mustOK("create our volume on a foreign server", err)
	foreignBefore := inventoryNames(t, sim)

	out, err = run(t, func(p *provision.Progress) error { return pr.Delete(ctx, c, p) })
	if err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	after := inventoryNames(t, sim)
	for _, want := range []string{"server acme-cp-9", "server web-1", "network acme-net", "firewall acme-fw", "ssh_key alice", "load_balancer acme-lb", "volume acme-data", "placement_group acme-control-plane-9"} {
		if !after[want] {
			t.Errorf("foreign %s was deleted", want)
		}
	}
	for name := range after {
		if !foreignBefore[name] {
			t.Errorf("%s appeared", name)
		}
	}
	if len(after) != 8 {
		t.Errorf("after delete the project holds %v, want the 8 foreign resources only", after)
	}
	for _, s := range []string{"server deleted", "load balancer acme-ingress deleted", "volume pvc-1 deleted", "volume pvc-3 deleted", "network acme deleted", "firewall acme deleted"} {
		if !strings.Contains(out, s) {
			t.Errorf("progress lacks %q:\n%s", s, out)
		}
	}

	// A second delete finds nothing and deletes nothing.
	before := sim.Calls()
	if out, err := run(t, func(p *provision.Progress) error { return pr.Delete(ctx, c, p) }); err != nil {
		t.Fatalf("second delete: %v\n%s", err, out)
	}
	for route := range delta(before, sim.Calls()) {
		if !strings.HasPrefix(route, "GET") {
			t.Errorf("second delete called %s", route)
		}
	}
}

// inventoryNames lists every resource of the project as "kind name".
func inventoryNames(t *testing.T, sim *hcloudsim.Sim) map[string]bool {
	t.Helper()
	ctx := context.Background()
	cl := client(sim)
	out := map[string]bool{}
	add := func(kind, name string) { out[kind+" "+name] = true }
	srvs, err := cl.Server.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range srvs {
		add("server", v.Name)
	}
	nets, _ := cl.Network.All(ctx)
	for _, v := range nets {
		add("network", v.Name)
	}
	fws, _ := cl.Firewall.All(ctx)
	for _, v := range fws {
		add("firewall", v.Name)
	}
	keys, _ := cl.SSHKey.All(ctx)
	for _, v := range keys {
		add("ssh_key", v.Name)
	}
	lbs, _ := cl.LoadBalancer.All(ctx)
	for _, v := range lbs {
		add("load_balancer", v.Name)
	}
	vols, _ := cl.Volume.All(ctx)
	for _, v := range vols {
		add("volume", v.Name)
	}
	pgs, _ := cl.PlacementGroup.All(ctx)
	for _, v := range pgs {
		add("placement_group", v.Name)
	}
	imgs, _ := cl.Image.AllWithOpts(ctx, hcloud.ImageListOpts{Type: []hcloud.ImageType{hcloud.ImageTypeSnapshot}})
	for _, v := range imgs {
		add("snapshot", v.Description)
	}
	return out
}

func newKey(t *testing.T) string {
	t.Helper()
	_, key, _, err := sshx.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	return key
}
