package hetzner

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"golang.org/x/crypto/ssh"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// wantedKey is an SSH key servers are created with.
type wantedKey struct {
	name, publicKey, fingerprint string
}

// wantedKeys are the cluster's own key (authorizedKey; empty in Plan) and
// the public key files of spec.sshKeys.
func wantedKeys(c clusterfile.Cluster, authorizedKey string) ([]wantedKey, error) {
	files, err := readKeys(c)
	if err != nil {
		return nil, err
	}
	var out []wantedKey
	add := func(name, pub string) error {
		k := wantedKey{name: name, publicKey: strings.TrimSpace(pub)}
		if pub != "" {
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
			if err != nil {
				return fmt.Errorf("ssh key %s: not an OpenSSH public key: %w", name, err)
			}
			k.fingerprint = ssh.FingerprintLegacyMD5(pk)
		}
		out = append(out, k)
		return nil
	}
	if err := add(c.Metadata.Name, authorizedKey); err != nil {
		return nil, err
	}
	for i, path := range c.Spec.SSHKeys {
		base := strings.TrimSuffix(filepath.Base(path), ".pub")
		if err := add(c.Metadata.Name+"-"+base, files[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ensureKeys returns the keys to create servers with, uploading the missing
// ones. A key of spec.sshKeys that the project already holds without the
// cluster's label (a person's own key, uploaded by hand) is used as it is:
// Hetzner allows a public key once per project. It is not labelled, so
// Delete leaves it.
func (pr *Provider) ensureKeys(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, inv *inventory, authorizedKey string) ([]*hcloud.SSHKey, error) {
	wanted, err := wantedKeys(c, authorizedKey)
	if err != nil {
		return nil, err
	}
	var out []*hcloud.SSHKey
	for i, w := range wanted {
		var found *hcloud.SSHKey
		for _, k := range inv.keys {
			if k.Fingerprint == w.fingerprint {
				found = k
			}
		}
		for _, k := range inv.keys {
			if found == nil && k.Name == w.name {
				// Ours, under the same name, with another key: the cluster
				// key was replaced. Servers created before keep the old one.
				if err := pr.deleteOne(ctx, p, c.Metadata.Name, "ssh key", k.Name+" (replaced)", func() (*hcloud.Response, error) { return pr.client.SSHKey.Delete(ctx, k) }); err != nil {
					return nil, err
				}
			}
		}
		if found == nil {
			var k *hcloud.SSHKey
			err := pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
				var resp *hcloud.Response
				var err error
				k, resp, err = pr.client.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: w.name, PublicKey: w.publicKey, Labels: clusterLabels(c)})
				return resp, err
			})
			if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) && i > 0 {
				k, err = pr.foreignKey(ctx, p, c, w)
			}
			if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
				return nil, notOurs("SSH key", w.name, c)
			}
			if err != nil {
				return nil, fmt.Errorf("create ssh key %s: %w", w.name, err)
			}
			report(p, c.Metadata.Name, "ssh key %s uploaded", w.name)
			found = k
		}
		out = append(out, found)
	}
	return out, nil
}

// foreignKey finds the project's key with w's fingerprint.
func (pr *Provider) foreignKey(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, w wantedKey) (*hcloud.SSHKey, error) {
	var keys []*hcloud.SSHKey
	err := pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		keys, resp, err = pr.client.SSHKey.List(ctx, hcloud.SSHKeyListOpts{Fingerprint: w.fingerprint})
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, hcloud.Error{Code: hcloud.ErrorCodeUniquenessError, Message: "name taken"}
	}
	report(p, c.Metadata.Name, "ssh key %s is already in the project as %s: using it (not the cluster's; delete keeps it)", w.name, keys[0].Name)
	return keys[0], nil
}

// networkZone is the zone of the cluster's private network.
func networkZone(h *clusterfile.Hetzner) string {
	if h.NetworkZone != "" {
		return h.NetworkZone
	}
	if len(h.Locations) > 0 {
		return clusterfile.Locations[h.Locations[0]]
	}
	return "eu-central"
}

// ensureNetwork creates the private network, one subnet spanning
// spec.network.cidr in the cluster's network zone.
func (pr *Provider) ensureNetwork(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, inv *inventory) (*hcloud.Network, error) {
	_, cidr, err := net.ParseCIDR(c.Spec.Network.CIDR)
	if err != nil {
		return nil, fmt.Errorf("spec.network.cidr: %w", err)
	}
	if n := inv.network; n != nil {
		if n.IPRange.String() != cidr.String() {
			return nil, fmt.Errorf("network %s has range %s but spec.network.cidr is %s: the range of an existing cluster cannot change", n.Name, n.IPRange, cidr)
		}
		return n, nil
	}
	h, err := hetznerSpec(c)
	if err != nil {
		return nil, err
	}
	var n *hcloud.Network
	err = pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		n, resp, err = pr.client.Network.Create(ctx, hcloud.NetworkCreateOpts{
			Name: c.Metadata.Name, IPRange: cidr, Labels: clusterLabels(c),
			Subnets: []hcloud.NetworkSubnet{{Type: hcloud.NetworkSubnetTypeCloud, IPRange: cidr, NetworkZone: hcloud.NetworkZone(networkZone(h))}},
		})
		return resp, err
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		return nil, notOurs("network", c.Metadata.Name, c)
	}
	if err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	report(p, c.Metadata.Name, "network %s (%s) created", n.Name, cidr)
	inv.network = n
	return n, nil
}

// firewallRules turns spec.firewall into inbound TCP rules. Nothing is added
// for k3s between nodes: Hetzner Cloud firewalls filter public interfaces
// only, and nodes talk to each other (6443, 9345, 10250, 2379-2380, flannel's
// 8472/udp) over the private network, which no firewall applies to.
func firewallRules(c clusterfile.Cluster) ([]hcloud.FirewallRule, error) {
	var rules []hcloud.FirewallRule
	for i, r := range c.Spec.Firewall {
		rule := hcloud.FirewallRule{
			Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP,
			Port: hcloud.Ptr(r.Port), Description: hcloud.Ptr("prosper: spec.firewall[" + strconv.Itoa(i) + "]"),
		}
		for _, s := range r.Sources {
			if !strings.Contains(s, "/") {
				if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
					s += "/32"
				} else {
					s += "/128"
				}
			}
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("spec.firewall[%d]: source %q: %w", i, s, err)
			}
			rule.SourceIPs = append(rule.SourceIPs, *n)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// ensureFirewall creates the cluster's firewall from spec.firewall, or sets
// the rules of the existing one when spec.firewall changed (one call, none
// when they are equal). It is applied to servers in their create request.
func (pr *Provider) ensureFirewall(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, inv *inventory) (*hcloud.Firewall, error) {
	rules, err := firewallRules(c)
	if err != nil {
		return nil, err
	}
	if fw := inv.firewall; fw != nil {
		if sameRules(fw.Rules, rules) {
			return fw, nil
		}
		return fw, pr.setFirewallRules(ctx, p, c, fw, rules)
	}
	var res hcloud.FirewallCreateResult
	err = pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		res, resp, err = pr.client.Firewall.Create(ctx, hcloud.FirewallCreateOpts{Name: c.Metadata.Name, Labels: clusterLabels(c), Rules: rules})
		return resp, err
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		return nil, notOurs("firewall", c.Metadata.Name, c)
	}
	if err != nil {
		return nil, fmt.Errorf("create firewall: %w", err)
	}
	report(p, c.Metadata.Name, "firewall %s created (%d rules)", res.Firewall.Name, len(rules))
	inv.firewall = res.Firewall
	return res.Firewall, nil
}

// groupName is the spread placement group of a node. Hetzner puts at most 10
// servers in a spread group, so there is one group per pool and per 10 nodes
// of it (nodes 1-10 of pool "workers" in acme-workers-1, 11-20 in
// acme-workers-2): by pool, so that the three control planes always share one
// and a pool's nodes are spread over hosts, and stable, because a node's group
// follows from its name's index, so a re-run or a scale finds the same group.
func groupName(c clusterfile.Cluster, n clusterfile.Node) string {
	idx := 1
	if i := strings.LastIndexByte(n.Name, '-'); i >= 0 {
		if v, err := strconv.Atoi(n.Name[i+1:]); err == nil && v > 0 {
			idx = v
		}
	}
	return fmt.Sprintf("%s-%s-%d", c.Metadata.Name, n.Pool, (idx-1)/10+1)
}

// ensureGroup returns the named placement group, creating it if needed. It
// is safe for concurrent calls with different names.
func (pr *Provider) ensureGroup(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, inv *inventory, name string) (*hcloud.PlacementGroup, error) {
	inv.mu.Lock()
	pg, ok := inv.groups[name]
	inv.mu.Unlock()
	if ok {
		return pg, nil
	}
	var res hcloud.PlacementGroupCreateResult
	err := pr.do(ctx, p, c.Metadata.Name, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		res, resp, err = pr.client.PlacementGroup.Create(ctx, hcloud.PlacementGroupCreateOpts{Name: name, Labels: clusterLabels(c), Type: hcloud.PlacementGroupTypeSpread})
		return resp, err
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		return nil, notOurs("placement group", name, c)
	}
	if err != nil {
		return nil, fmt.Errorf("create placement group %s: %w", name, err)
	}
	report(p, c.Metadata.Name, "placement group %s created", name)
	inv.mu.Lock()
	inv.groups[name] = res.PlacementGroup
	inv.mu.Unlock()
	return res.PlacementGroup, nil
}

// labelValue makes v a valid Hetzner label value: alphanumerics, '-', '_'
// and '.' only.
func labelValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, v)
}
