package sshhosts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// Plan says, per node, what Ensure would do. It logs in to each host to read
// its marker but changes nothing; a host it cannot reach now is reported,
// not failed, since Ensure waits for it.
func (p *Provider) Plan(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node) ([]string, error) {
	l, err := p.login(c)
	if err != nil {
		return nil, err
	}
	lines := make([]string, len(nodes))
	_ = each(ctx, addresses(nodes), func(ctx context.Context, i int, host string) error {
		n := nodes[i]
		what := fmt.Sprintf("host %s: log in as %s, authorize the cluster key, mark it as node %s of %s",
			l.addr(host), l.user, n.Name, c.Metadata.Name)
		client, err := p.dial(ctx, l, host)
		if err != nil {
			lines[i] = what + fmt.Sprintf(" (not reachable now, Ensure will wait: %v)", err)
			return nil
		}
		defer client.Close()
		m, ok, err := readMarker(ctx, client)
		switch {
		case err != nil:
			lines[i] = what + fmt.Sprintf(" (cannot read its marker now: %v)", err)
		case ok && m.Cluster != c.Metadata.Name:
			lines[i] = fmt.Sprintf("host %s: refuse: %v", l.addr(host), taken(m))
		case ok && m.Node == n.Name:
			lines[i] = fmt.Sprintf("host %s: already node %s of %s; authorize the cluster key if missing", l.addr(host), n.Name, m.Cluster)
		case ok:
			lines[i] = fmt.Sprintf("host %s: was node %s of %s, becomes node %s", l.addr(host), m.Node, m.Cluster, n.Name)
		default:
			lines[i] = what
		}
		return nil
	})
	return lines, nil
}

// Ensure logs in to each node's host (waiting, bounded, while it is down),
// refuses a host marked as another cluster's, authorizes the cluster's key
// once and marks the host. All hosts are handled at once; every failure is
// reported, naming its host.
func (p *Provider) Ensure(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node, authorizedKey string, pr *provision.Progress) ([]provision.Machine, error) {
	l, err := p.login(c)
	if err != nil {
		return nil, err
	}
	line, blob, err := keyLine(authorizedKey)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Address == "" {
			return nil, fmt.Errorf("node %s has no host address (clusterfile.Plan assigns them from spec.provider.ssh.hosts)", n.Name)
		}
	}
	machines := make([]provision.Machine, len(nodes))
	err = each(ctx, addresses(nodes), func(ctx context.Context, i int, host string) error {
		n := nodes[i]
		report(pr, n.Name, "logging in to %s@%s", l.user, l.addr(host))
		started := time.Now()
		client, err := p.wait(ctx, l, host)
		if err != nil {
			return err
		}
		if waited := time.Since(started); waited > 2*time.Second {
			report(pr, n.Name, "SSH answered after %s", waited.Round(100*time.Millisecond))
		}
		defer client.Close()
		m, ok, err := readMarker(ctx, client)
		if err != nil {
			return err
		}
		if ok && m.Cluster != c.Metadata.Name {
			return taken(m)
		}
		if err := authorize(ctx, client, l.user, marker{Cluster: c.Metadata.Name, Node: n.Name, Key: blob}, line, blob); err != nil {
			return err
		}
		machines[i] = machine(n.Name, n.Pool, n.Role, host, l)
		machines[i].Labels = n.Labels
		report(pr, n.Name, "ready: cluster key authorized, marked as %s's", c.Metadata.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return machines, nil
}

// Machines lists the hosts of the cluster file that carry the cluster's
// marker. A host that does not answer now (refused, unreachable, timed out:
// booting, or down for a while) is listed as the node the file places on it,
// with status "unreachable": whether it is the cluster's cannot be told, but
// the converge plans that same node either way, and Ensure waits for the host
// and refuses it if another cluster's, naming it, before anything is
// installed. Any other failure (a key refused, a changed host key) is an
// error naming the host.
func (p *Provider) Machines(ctx context.Context, c clusterfile.Cluster) ([]provision.Machine, error) {
	l, err := p.login(c)
	if err != nil {
		return nil, err
	}
	roles := map[string]clusterfile.Role{}
	planned := map[string]clusterfile.Node{}
	for _, n := range c.Plan() {
		roles[n.Pool] = n.Role
		planned[n.Address] = n
	}
	hosts := c.Spec.Provider.SSH.Hosts
	found := make([]*provision.Machine, len(hosts))
	err = each(ctx, hostAddresses(hosts), func(ctx context.Context, i int, host string) error {
		client, err := p.dial(ctx, l, host)
		if errors.Is(err, sshx.ErrConnectionRefused) || errors.Is(err, sshx.ErrNoRoute) || errors.Is(err, sshx.ErrTimeout) {
			if n, ok := planned[host]; ok {
				mc := machine(n.Name, n.Pool, n.Role, host, l)
				mc.Status = "unreachable"
				found[i] = &mc
			}
			return nil
		}
		if err != nil {
			return err
		}
		defer client.Close()
		m, ok, err := readMarker(ctx, client)
		if err != nil || !ok || m.Cluster != c.Metadata.Name {
			return err
		}
		mc := machine(m.Node, hosts[i].Pool, roles[hosts[i].Pool], host, l)
		found[i] = &mc
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []provision.Machine
	for _, m := range found {
		if m != nil {
			out = append(out, *m)
		}
	}
	return out, nil
}

// Remove uninstalls k3s from the hosts of the named nodes and removes the
// cluster's key and marker there. Hosts are found by their marker, so a host
// already freed is skipped and one of another cluster is never touched.
func (p *Provider) Remove(ctx context.Context, c clusterfile.Cluster, names []string, pr *provision.Progress) error {
	return p.free(ctx, c, func(node string) bool { return slices.Contains(names, node) }, pr)
}

// Delete frees every host of the cluster file marked as the cluster's. The
// ssh provider creates no network, firewall or load balancer: the hosts are
// all it has.
func (p *Provider) Delete(ctx context.Context, c clusterfile.Cluster, pr *provision.Progress) error {
	return p.free(ctx, c, func(string) bool { return true }, pr)
}

func (p *Provider) free(ctx context.Context, c clusterfile.Cluster, want func(node string) bool, pr *provision.Progress) error {
	l, err := p.login(c)
	if err != nil {
		return err
	}
	return each(ctx, hostAddresses(c.Spec.Provider.SSH.Hosts), func(ctx context.Context, _ int, host string) error {
		client, err := p.dial(ctx, l, host)
		if err != nil {
			return err
		}
		defer client.Close()
		m, ok, err := readMarker(ctx, client)
		if err != nil || !ok || m.Cluster != c.Metadata.Name || !want(m.Node) {
			return err
		}
		report(pr, m.Node, "uninstalling k3s from %s, removing the cluster key and marker", l.addr(host))
		if err := cleanup(ctx, client, l.user, m); err != nil {
			return err
		}
		report(pr, m.Node, "freed")
		return nil
	})
}

func machine(name, pool string, role clusterfile.Role, host string, l login) provision.Machine {
	return provision.Machine{
		Name: name, Pool: pool, Role: role,
		// The address the file gives is the one the other nodes reach the
		// host at too: bring-your-own hosts have no separate private network
		// prosper knows of.
		PublicIP: host, PrivateIP: host,
		SSHAddr: l.addr(host), SSHUser: l.user,
		Status: "running",
	}
}

func addresses(nodes []clusterfile.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Address
	}
	return out
}

func hostAddresses(hosts []clusterfile.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Address
	}
	return out
}
