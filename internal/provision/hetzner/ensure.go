package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Plan lists what Ensure would do, reading only.
func (pr *Provider) Plan(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node) ([]string, error) {
	if _, err := hetznerSpec(c); err != nil {
		return nil, err
	}
	inv, err := pr.inventory(ctx, nil, c)
	if err != nil {
		return nil, err
	}
	pr.keepPlanned(c.Metadata.Name, inv)
	wanted, err := wantedKeys(c, "")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, w := range wanted {
		found := false
		for _, k := range inv.keys {
			found = found || k.Name == w.name
		}
		lines = append(lines, map[bool]string{true: "ssh key " + w.name + " exists", false: "upload ssh key " + w.name}[found])
	}
	if inv.network != nil {
		lines = append(lines, "network "+inv.network.Name+" exists")
	} else {
		lines = append(lines, fmt.Sprintf("create network %s (%s, %s)", c.Metadata.Name, c.Spec.Network.CIDR, networkZone(c.Spec.Provider.Hetzner)))
	}
	rules, err := firewallRules(c)
	if err != nil {
		return nil, err
	}
	switch {
	case inv.firewall != nil && sameRules(inv.firewall.Rules, rules):
		lines = append(lines, "firewall "+inv.firewall.Name+" exists")
	case inv.firewall != nil:
		lines = append(lines, fmt.Sprintf("set the rules of firewall %s to spec.firewall (%d rules)", inv.firewall.Name, len(rules)))
	default:
		lines = append(lines, fmt.Sprintf("create firewall %s (%d rules)", c.Metadata.Name, len(c.Spec.Firewall)))
	}
	planned := map[string]bool{}
	for _, n := range nodes {
		if _, ok := inv.servers[n.Name]; ok {
			continue
		}
		if g := groupName(c, n); inv.groups[g] == nil && !planned[g] {
			planned[g] = true
			lines = append(lines, "create placement group "+g+" (spread)")
		}
	}
	for _, n := range nodes {
		if s, ok := inv.servers[n.Name]; ok {
			lines = append(lines, fmt.Sprintf("server %s exists (%s)", n.Name, s.Status))
			continue
		}
		from := ""
		if inv.snapshot != nil {
			from = ", from snapshot " + strconv.FormatInt(inv.snapshot.ID, 10)
		}
		lines = append(lines, fmt.Sprintf("create server %s (%s, %s%s)", n.Name, n.ServerType, n.Location, from))
	}
	return lines, nil
}

// Ensure creates what of the cluster is missing, in order: SSH keys, the
// private network, the firewall, placement groups, then the servers of the
// nodes that do not exist yet, in parallel, one POST each. It then waits for
// their create actions with one batched poll per interval. A server whose
// create fails is deleted (it is labelled, so it is ours) and reported;
// Ensure then returns an error naming the failed nodes and a re-run creates
// them again.
func (pr *Provider) Ensure(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node, authorizedKey string, p *provision.Progress) ([]provision.Machine, error) {
	h, err := hetznerSpec(c)
	if err != nil {
		return nil, err
	}
	inv := pr.takePlanned(c.Metadata.Name)
	if inv == nil {
		if inv, err = pr.inventory(ctx, p, c); err != nil {
			return nil, fmt.Errorf("list the cluster's resources: %w", err)
		}
	}
	keys, err := pr.ensureKeys(ctx, p, c, inv, authorizedKey)
	if err != nil {
		return nil, err
	}
	network, err := pr.ensureNetwork(ctx, p, c, inv)
	if err != nil {
		return nil, err
	}
	firewall, err := pr.ensureFirewall(ctx, p, c, inv)
	if err != nil {
		return nil, err
	}
	var missing []clusterfile.Node
	var names []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if _, ok := inv.servers[n.Name]; ok {
			continue
		}
		missing = append(missing, n)
		if g := groupName(c, n); !seen[g] {
			seen[g] = true
			names = append(names, g)
		}
	}
	// A 500-node cluster has 50 groups: create them in parallel.
	var mu sync.Mutex
	groups := map[string]*hcloud.PlacementGroup{}
	var groupErrs []error
	forEach(ctx, names, pr.opts.Parallel, func(g string) {
		pg, err := pr.ensureGroup(ctx, p, c, inv, g)
		mu.Lock()
		defer mu.Unlock()
		groups[g] = pg
		groupErrs = append(groupErrs, err)
	})
	if err := errors.Join(append(groupErrs, ctx.Err())...); err != nil {
		return nil, err
	}
	image := &hcloud.Image{Name: h.Image}
	if image.Name == "" {
		image.Name = clusterfile.DefaultImage
	}
	if inv.snapshot != nil {
		image = inv.snapshot
	}
	created, failed := pr.createServers(ctx, p, c, missing, func(n clusterfile.Node) hcloud.ServerCreateOpts {
		return hcloud.ServerCreateOpts{
			Name: n.Name, ServerType: &hcloud.ServerType{Name: n.ServerType}, Image: image,
			Location: &hcloud.Location{Name: n.Location}, SSHKeys: keys, UserData: userData(authorizedKey),
			StartAfterCreate: hcloud.Ptr(true), Labels: serverLabels(c, n),
			Networks: []*hcloud.Network{network}, Firewalls: []*hcloud.ServerCreateFirewall{{Firewall: *firewall}},
			PlacementGroup: groups[groupName(c, n)],
		}
	})
	if len(failed) > 0 {
		names := make([]string, 0, len(failed))
		errs := make([]error, 0, len(failed))
		for name, err := range failed {
			names = append(names, name)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		sort.Strings(names)
		return nil, fmt.Errorf("create servers %s (run again to retry them): %w", strings.Join(names, ", "), errors.Join(errs...))
	}
	// The create responses already hold the addresses; list again only if
	// one lacks its private address (the API may fill it in later).
	byName := inv.servers
	for name, s := range created {
		byName[name] = s
		if len(s.PrivateNet) == 0 || s.PublicNet.IPv4.IP == nil {
			byName = nil
		}
	}
	if byName == nil {
		srvs, err := pr.servers(ctx, p, c)
		if err != nil {
			return nil, err
		}
		byName = map[string]*hcloud.Server{}
		for _, s := range srvs {
			byName[s.Name] = s
		}
	}
	out := make([]provision.Machine, 0, len(nodes))
	for _, n := range nodes {
		s, ok := byName[n.Name]
		if !ok {
			return nil, fmt.Errorf("server %s: gone right after it was created; run again", n.Name)
		}
		out = append(out, pr.machine(s))
	}
	return out, nil
}

// serverLabels are a server's labels: the cluster's, its pool and its role.
// A pool's Kubernetes labels are not copied: they need not be valid Hetzner
// labels and k3s sets them on the node.
func serverLabels(c clusterfile.Cluster, n clusterfile.Node) map[string]string {
	return map[string]string{
		clusterfile.LabelCluster: c.Metadata.Name,
		clusterfile.LabelPool:    labelValue(n.Pool),
		clusterfile.LabelRole:    labelValue(string(n.Role)),
	}
}

// userData is the servers' cloud-init. It only authorizes the cluster key
// for root (Hetzner's ssh_keys do the same; this covers images whose
// cloud-init skips them) and turns off package updates and upgrades on first
// boot: an apt run in the background would hold the dpkg lock while prosper
// installs over SSH, and an upgrade could reboot the server under it.
// Everything else is done by prosper over SSH, where it can see failures.
func userData(authorizedKey string) string {
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("package_update: false\npackage_upgrade: false\npackage_reboot_if_required: false\n")
	if k := strings.TrimSpace(authorizedKey); k != "" {
		b.WriteString("ssh_authorized_keys:\n  - " + strconv.Quote(k) + "\n")
	}
	return b.String()
}

// createServers creates the servers of nodes in parallel, waits for their
// create actions and deletes those that failed. It returns the servers that
// are up, as the create calls returned them but running, and the failures,
// by node name.
func (pr *Provider) createServers(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, nodes []clusterfile.Node, opts func(clusterfile.Node) hcloud.ServerCreateOpts) (map[string]*hcloud.Server, map[string]error) {
	var mu sync.Mutex
	failed := map[string]error{}
	created := map[string]*hcloud.Server{}
	actions := map[int64]string{}
	started := map[string]time.Time{}
	fail := func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed[name] = err
	}
	forEach(ctx, nodes, pr.opts.Parallel, func(n clusterfile.Node) {
		report(p, n.Name, "creating server (%s, %s)", n.ServerType, n.Location)
		var res hcloud.ServerCreateResult
		err := pr.do(ctx, p, n.Name, func() (*hcloud.Response, error) {
			var resp *hcloud.Response
			var err error
			res, resp, err = pr.client.Server.Create(ctx, opts(n))
			return resp, err
		})
		if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
			err = notOurs("server", n.Name, c)
		}
		if err != nil {
			report(p, n.Name, "failed: %v", err)
			fail(n.Name, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		created[n.Name] = res.Server
		actions[res.Action.ID] = n.Name
		started[n.Name] = time.Now()
	})
	var broken []*hcloud.Server
	err := pr.waitActions(ctx, p, actions, func(name string, a *hcloud.Action) {
		if a.Status == hcloud.ActionStatusError {
			err := fmt.Errorf("server did not come up: %w", a.Error())
			report(p, name, "failed: %v; deleting it so that a re-run creates it again", err)
			fail(name, err)
			broken = append(broken, created[name])
			return
		}
		created[name].Status = hcloud.ServerStatusRunning
		report(p, name, "server running (%s)", time.Since(started[name]).Round(100*time.Millisecond))
	})
	if err != nil {
		for name := range created {
			if _, ok := failed[name]; !ok {
				failed[name] = err
			}
		}
		return nil, failed
	}
	if err := pr.deleteServers(ctx, p, broken); err != nil {
		for _, s := range broken {
			failed[s.Name] = fmt.Errorf("%w; deleting the broken server failed too: %w", failed[s.Name], err)
		}
	}
	for name := range failed {
		delete(created, name)
	}
	return created, failed
}

// forEach runs fn for every item with at most limit at a time.
func forEach[T any](ctx context.Context, items []T, limit int, fn func(T)) {
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(it)
		})
	}
	wg.Wait()
}

// Machines lists the cluster's servers, sorted by name.
func (pr *Provider) Machines(ctx context.Context, c clusterfile.Cluster) ([]provision.Machine, error) {
	srvs, err := pr.servers(ctx, nil, c)
	if err != nil {
		return nil, err
	}
	out := make([]provision.Machine, 0, len(srvs))
	for _, s := range srvs {
		out = append(out, pr.machine(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// machine describes a server as provision sees it.
func (pr *Provider) machine(s *hcloud.Server) provision.Machine {
	m := provision.Machine{
		Name: s.Name, Pool: s.Labels[clusterfile.LabelPool], Role: clusterfile.Role(s.Labels[clusterfile.LabelRole]),
		SSHUser: clusterfile.DefaultSSHUser, Status: status(s.Status), Labels: s.Labels,
	}
	if ip := s.PublicNet.IPv4.IP; ip != nil && !ip.IsUnspecified() {
		m.PublicIP = ip.String()
		m.SSHAddr = net.JoinHostPort(m.PublicIP, strconv.Itoa(pr.opts.SSHPort))
	}
	if len(s.PrivateNet) > 0 && s.PrivateNet[0].IP != nil {
		m.PrivateIP = s.PrivateNet[0].IP.String()
	}
	return m
}

// status maps Hetzner's server status to provision.Machine's.
func status(s hcloud.ServerStatus) string {
	switch s {
	case hcloud.ServerStatusRunning:
		return "running"
	case hcloud.ServerStatusInitializing, hcloud.ServerStatusStarting:
		return "creating"
	case hcloud.ServerStatusDeleting:
		return "deleting"
	default:
		return "off"
	}
}
