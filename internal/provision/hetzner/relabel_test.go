package hetzner

import (
	"context"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
)

func TestSetPoolRelabelsOnlyOurServer(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 0)
	c.Spec.Standby = 1
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	ctx := context.Background()
	// A server of someone else's, in a pool label of the same name.
	cl := client(sim)
	foreign, _, err := cl.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "foreign", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Labels: map[string]string{"owner": "someone", clusterfile.LabelPool: "standby"}})
	if err != nil {
		t.Fatal(err)
	}

	before := sim.Calls()
	if err := pr.SetPool(ctx, c, "acme-standby-1", "workers"); err != nil {
		t.Fatal(err)
	}
	if d := delta(before, sim.Calls()); d["PUT /servers/{id}"] != 1 || d["GET /servers"] != 1 || len(d) != 2 {
		t.Errorf("SetPool calls %v, want one list and one PUT", d)
	}
	s, _, err := cl.Server.GetByName(ctx, "acme-standby-1")
	if err != nil || s == nil {
		t.Fatal(err)
	}
	want := map[string]string{clusterfile.LabelCluster: "acme", clusterfile.LabelPool: "workers", clusterfile.LabelRole: "worker"}
	for k, v := range want {
		if s.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, s.Labels[k], v, s.Labels)
		}
	}
	ms, err := pr.Machines(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "acme-standby-1" && (m.Pool != "workers" || m.Role != clusterfile.RoleWorker) {
			t.Errorf("machine after SetPool: %+v", m)
		}
	}

	// Again: already so, no PUT.
	before = sim.Calls()
	if err := pr.SetPool(ctx, c, "acme-standby-1", "workers"); err != nil {
		t.Fatal(err)
	}
	if d := delta(before, sim.Calls()); d["PUT /servers/{id}"] != 0 {
		t.Errorf("SetPool of a server already in the pool: %v", d)
	}
	// A server without the cluster's label is not ours, whatever its name.
	if err := pr.SetPool(ctx, c, "foreign", "workers"); err == nil || !strings.Contains(err.Error(), "no server foreign") {
		t.Errorf("SetPool of a foreign server: %v", err)
	}
	f, _, _ := cl.Server.GetByID(ctx, foreign.Server.ID)
	if f.Labels[clusterfile.LabelPool] != "standby" || f.Labels["owner"] != "someone" {
		t.Errorf("the foreign server's labels changed: %v", f.Labels)
	}
}

func TestEnsureSetsChangedFirewallRules(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 1)
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	ctx := context.Background()

	// Unchanged: no call that changes anything.
	before := sim.Calls()
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure again: %v\n%s", err, out)
	}
	if d := delta(before, sim.Calls()); d["POST /firewalls/{id}/actions/set_rules"] != 0 || d["POST /firewalls"] != 0 {
		t.Errorf("ensure with the same spec.firewall: %v", d)
	}

	// Changed: the port 6443 rule's sources change and a rule is added.
	c.Spec.Firewall = []clusterfile.Rule{
		{Port: "22", Sources: []string{"0.0.0.0/0"}},
		{Port: "6443", Sources: []string{"198.18.7.1", "2001:db8::/32"}},
		{Port: "443", Sources: []string{"0.0.0.0/0", "::/0"}},
	}
	plan, err := pr.Plan(ctx, c, c.Plan())
	if err != nil {
		t.Fatal(err)
	}
	if !contains(plan, "set the rules of firewall acme to spec.firewall (3 rules)") {
		t.Errorf("plan does not say the rules change:\n%s", strings.Join(plan, "\n"))
	}
	before = sim.Calls()
	_, out, err := ensure(t, pr, c)
	if err != nil {
		t.Fatalf("ensure with a changed firewall: %v\n%s", err, out)
	}
	d := delta(before, sim.Calls())
	// Ensure right after Plan takes Plan's lists instead of listing again.
	if d["GET /firewalls"]+d["GET /servers"]+d["GET /networks"]+d["GET /ssh_keys"]+d["GET /placement_groups"] != 0 {
		t.Errorf("ensure right after plan listed again: %v", d)
	}
	if d["POST /firewalls/{id}/actions/set_rules"] != 1 || d["POST /firewalls"] != 0 || d["POST /servers"] != 0 {
		t.Errorf("ensure with a changed firewall: %v", d)
	}
	if !strings.Contains(out, "firewall acme rules updated (3 rules") {
		t.Errorf("progress does not report the update:\n%s", out)
	}
	fws, _, err := client(sim).Firewall.List(ctx, hcloud.FirewallListOpts{})
	if err != nil || len(fws) != 1 {
		t.Fatalf("firewalls %v, %v", fws, err)
	}
	var got []string
	for _, r := range fws[0].Rules {
		var srcs []string
		for _, n := range r.SourceIPs {
			srcs = append(srcs, n.String())
		}
		got = append(got, *r.Port+"<"+strings.Join(srcs, " "))
	}
	if want := "22<0.0.0.0/0,6443<198.18.7.1/32 2001:db8::/32,443<0.0.0.0/0 ::/0"; strings.Join(got, ",") != want {
		t.Errorf("rules in the project: %s, want %s", strings.Join(got, ","), want)
	}
	if len(fws[0].AppliedTo) != 2 {
		t.Errorf("the firewall applies to %d resources, want the 2 servers", len(fws[0].AppliedTo))
	}

	// Converged: the next run leaves it.
	before = sim.Calls()
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure after the update: %v\n%s", err, out)
	}
	if d := delta(before, sim.Calls()); d["POST /firewalls/{id}/actions/set_rules"] != 0 {
		t.Errorf("ensure after the update set the rules again: %v", d)
	}
}
