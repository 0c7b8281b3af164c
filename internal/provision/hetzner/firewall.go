package hetzner

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// setFirewallRules replaces the rules of the cluster's firewall with rules
// and waits until they apply to its servers.
func (pr *Provider) setFirewallRules(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, fw *hcloud.Firewall, rules []hcloud.FirewallRule) error {
	var actions []*hcloud.Action
	err := pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		actions, resp, err = pr.client.Firewall.SetRules(ctx, fw, hcloud.FirewallSetRulesOpts{Rules: rules})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("set the rules of firewall %s: %w", fw.Name, err)
	}
	running := map[int64]string{}
	for _, a := range actions {
		running[a.ID] = c.Metadata.Name
	}
	var failed error
	if err := pr.waitActions(ctx, p, running, func(_ string, a *hcloud.Action) {
		if a.Status == hcloud.ActionStatusError && failed == nil {
			failed = a.Error()
		}
	}); err != nil {
		return err
	}
	if failed != nil {
		return fmt.Errorf("set the rules of firewall %s: %w", fw.Name, failed)
	}
	fw.Rules = rules
	report(p, c.Metadata.Name, "firewall %s rules updated (%d rules, from spec.firewall)", fw.Name, len(rules))
	return nil
}

// sameRules says whether two rule sets are equal, whatever their order and
// the order of their addresses.
func sameRules(a, b []hcloud.FirewallRule) bool {
	ka, kb := ruleKeys(a), ruleKeys(b)
	return slices.Equal(ka, kb)
}

func ruleKeys(rules []hcloud.FirewallRule) []string {
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = strings.Join([]string{
			string(r.Direction), string(r.Protocol), deref(r.Port), deref(r.Description),
			nets(r.SourceIPs), nets(r.DestinationIPs),
		}, "|")
	}
	slices.Sort(keys)
	return keys
}

func nets(ns []net.IPNet) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
