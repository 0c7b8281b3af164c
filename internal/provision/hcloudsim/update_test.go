package hcloudsim

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func TestUpdateServerLabelsAndName(t *testing.T) {
	sim := startSim(t, Options{})
	c := newClient(sim, "t")
	ctx := context.Background()
	create := func(name string) *hcloud.Server {
		t.Helper()
		res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: name, ServerType: &hcloud.ServerType{Name: "cx22"},
			Image: &hcloud.Image{Name: "ubuntu-24.04"}, Labels: map[string]string{"prosper.dev/cluster": "demo", "prosper.dev/pool": "standby"}})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return res.Server
	}
	a, b := create("demo-standby-1"), create("demo-workers-1")

	// Labels replace the server's labels; a list by the new label finds it.
	upd, _, err := c.Server.Update(ctx, a, hcloud.ServerUpdateOpts{Labels: map[string]string{"prosper.dev/cluster": "demo", "prosper.dev/pool": "workers"}})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Labels["prosper.dev/pool"] != "workers" || len(upd.Labels) != 2 || upd.Name != "demo-standby-1" {
		t.Errorf("updated server = %s %v", upd.Name, upd.Labels)
	}
	got, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/pool=workers"}})
	if err != nil || len(got) != 1 || got[0].ID != a.ID {
		t.Errorf("list by the new label: %v, %v", got, err)
	}
	if upd, _, err = c.Server.Update(ctx, a, hcloud.ServerUpdateOpts{Name: "demo-workers-2"}); err != nil || upd.Name != "demo-workers-2" || upd.Labels["prosper.dev/pool"] != "workers" {
		t.Errorf("rename: %v %v", upd, err)
	}

	for _, tc := range []struct {
		name   string
		opts   hcloud.ServerUpdateOpts
		server *hcloud.Server
		code   hcloud.ErrorCode
		field  string
	}{
		{"name taken", hcloud.ServerUpdateOpts{Name: "demo-workers-1"}, a, hcloud.ErrorCodeUniquenessError, ""},
		{"name not a hostname", hcloud.ServerUpdateOpts{Name: "no_underscores"}, a, hcloud.ErrorCodeInvalidInput, "name"},
		{"value with plus", hcloud.ServerUpdateOpts{Labels: map[string]string{"k3s": "v1.31.4+k3s1"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"value ends with dash", hcloud.ServerUpdateOpts{Labels: map[string]string{"pool": "workers-"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"value too long", hcloud.ServerUpdateOpts{Labels: map[string]string{"pool": strings.Repeat("a", 64)}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"key with space", hcloud.ServerUpdateOpts{Labels: map[string]string{"my pool": "a"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"empty key name", hcloud.ServerUpdateOpts{Labels: map[string]string{"prosper.dev/": "a"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"prefix not a domain", hcloud.ServerUpdateOpts{Labels: map[string]string{"Prosper_dev/pool": "a"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"reserved prefix", hcloud.ServerUpdateOpts{Labels: map[string]string{"hetzner.cloud/pool": "a"}}, a, hcloud.ErrorCodeInvalidInput, "labels"},
		{"unknown server", hcloud.ServerUpdateOpts{Name: "x"}, &hcloud.Server{ID: 99999}, hcloud.ErrorCodeNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Server.Update(ctx, tc.server, tc.opts)
			if !hcloud.IsError(err, tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if tc.field != "" {
				var apiErr hcloud.Error
				if d, ok := err.(hcloud.Error); ok {
					apiErr = d
				}
				det, ok := apiErr.Details.(hcloud.ErrorDetailsInvalidInput)
				if !ok || len(det.Fields) == 0 || det.Fields[0].Name != tc.field {
					t.Errorf("details %#v, want field %s", apiErr.Details, tc.field)
				}
			}
		})
	}
	// Rejected updates change nothing.
	s, _, _ := c.Server.GetByID(ctx, a.ID)
	if s.Name != "demo-workers-2" || len(s.Labels) != 2 || s.Labels["prosper.dev/pool"] != "workers" {
		t.Errorf("after rejected updates: %s %v", s.Name, s.Labels)
	}
	if s, _, _ := c.Server.GetByID(ctx, b.ID); s.Labels["prosper.dev/pool"] != "standby" {
		t.Errorf("the other server changed: %v", s.Labels)
	}
	// Valid edge cases: empty value, a 63-character name.
	if _, _, err := c.Server.Update(ctx, b, hcloud.ServerUpdateOpts{Labels: map[string]string{"empty": "", "a.b-c.example/" + strings.Repeat("x", 63): "v.1_2-3"}}); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
	// Create validates labels the same way.
	_, _, err = c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "bad", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Labels: map[string]string{"k": "a+b"}})
	if !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) {
		t.Errorf("create with an invalid label: %v", err)
	}
}

func TestSetFirewallRules(t *testing.T) {
	sim := startSim(t, Options{})
	c := newClient(sim, "t")
	ctx := context.Background()
	rule := func(port, src string) hcloud.FirewallRule {
		return hcloud.FirewallRule{Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP,
			Port: hcloud.Ptr(port), SourceIPs: []net.IPNet{*mustCIDR(t, src)}}
	}
	fw, _, err := c.Firewall.Create(ctx, hcloud.FirewallCreateOpts{Name: "demo", Rules: []hcloud.FirewallRule{rule("22", "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	// Not applied to anything: no actions.
	acts, _, err := c.Firewall.SetRules(ctx, fw.Firewall, hcloud.FirewallSetRulesOpts{Rules: []hcloud.FirewallRule{rule("22", "198.18.0.0/15")}})
	if err != nil || len(acts) != 0 {
		t.Fatalf("set rules: %v %v", acts, err)
	}
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "s1", ServerType: &hcloud.ServerType{Name: "cx22"},
		Image: &hcloud.Image{Name: "ubuntu-24.04"}, Firewalls: []*hcloud.ServerCreateFirewall{{Firewall: *fw.Firewall}}})
	if err != nil {
		t.Fatal(err)
	}
	acts, _, err = c.Firewall.SetRules(ctx, fw.Firewall, hcloud.FirewallSetRulesOpts{Rules: []hcloud.FirewallRule{rule("22", "198.18.0.0/15"), rule("443", "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].Command != "set_firewall_rules" || len(acts[0].Resources) != 2 || acts[0].Resources[1].ID != res.Server.ID {
		t.Fatalf("actions %+v, want one set_firewall_rules on the server", acts)
	}
	if err := c.Action.WaitFor(ctx, acts...); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Firewall.GetByID(ctx, fw.Firewall.ID)
	if err != nil || len(got.Rules) != 2 || *got.Rules[1].Port != "443" || got.Rules[0].SourceIPs[0].String() != "198.18.0.0/15" {
		t.Fatalf("firewall after set_rules: %+v %v", got, err)
	}
	for _, tc := range []struct {
		name  string
		rules []hcloud.FirewallRule
	}{
		{"tcp without port", []hcloud.FirewallRule{{Direction: "in", Protocol: "tcp", SourceIPs: []net.IPNet{*mustCIDR(t, "0.0.0.0/0")}}}},
		{"in without sources", []hcloud.FirewallRule{{Direction: "in", Protocol: "tcp", Port: hcloud.Ptr("22")}}},
		{"icmp with port", []hcloud.FirewallRule{{Direction: "in", Protocol: "icmp", Port: hcloud.Ptr("22"), SourceIPs: []net.IPNet{*mustCIDR(t, "0.0.0.0/0")}}}},
	} {
		if _, _, err := c.Firewall.SetRules(ctx, fw.Firewall, hcloud.FirewallSetRulesOpts{Rules: tc.rules}); !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) {
			t.Errorf("%s: %v, want invalid_input", tc.name, err)
		}
	}
	if got, _, _ := c.Firewall.GetByID(ctx, fw.Firewall.ID); len(got.Rules) != 2 {
		t.Errorf("rejected set_rules changed the rules: %+v", got.Rules)
	}
	if _, _, err := c.Firewall.SetRules(ctx, &hcloud.Firewall{ID: 99999}, hcloud.FirewallSetRulesOpts{}); !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		t.Errorf("unknown firewall: %v", err)
	}
}
