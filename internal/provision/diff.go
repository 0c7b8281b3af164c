package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Change is what a converge does to a cluster: the nodes it must have (those
// that exist and are kept, then those to add), standby nodes it promotes into
// pools that are short, and machines it removes.
type Change struct {
	// Nodes are every node the cluster has once the change is done, in plan
	// order: control planes, pools, standby. Existing ones keep their names.
	Nodes []clusterfile.Node
	// Add are the nodes of Nodes that do not exist yet.
	Add []clusterfile.Node
	// Promote moves standby machines into pools: machine name → pool.
	Promote []Promotion
	// Remove are machines beyond what the file asks for.
	Remove []Machine
}

// Promotion is a standby node joining a pool that is short of nodes.
type Promotion struct {
	Node clusterfile.Node // as it will be: its new pool's labels and taints
	From clusterfile.Node // as it is
}

// Empty says whether the change does nothing.
func (c Change) Empty() bool { return len(c.Add)+len(c.Promote)+len(c.Remove) == 0 }

// Diff compares the machines that exist (by their pool label) with the cluster
// file and says what to change. New nodes take the lowest index whose name no
// machine uses, so a fresh cluster gets exactly Plan's names and a re-run after
// a failure finds the ones it made. A pool that is short takes ready standby
// nodes first when promote is set (a standby node is already joined: promoting
// it takes seconds, booting a server minutes), and the standby pool is then
// refilled. Machines beyond a pool's count are removed, highest index first,
// only when remove is set; the control plane never shrinks (etcd quorum).
func Diff(c clusterfile.Cluster, machines []Machine, promote, remove bool) (Change, error) {
	used := map[string]bool{}
	members := map[string][]Machine{}
	for _, m := range machines {
		used[m.Name] = true
		pool := m.Labels[clusterfile.LabelPool]
		if pool == "" {
			pool = m.Pool
		}
		members[pool] = append(members[pool], m)
	}
	groups := c.Groups()
	known := map[string]bool{}
	for _, g := range groups {
		known[g.Pool] = true
		// The pool's own names first, by index; promoted nodes (other names) after.
		own := strings.TrimSuffix(g.Node(1).Name, "1")
		slices.SortFunc(members[g.Pool], func(a, b Machine) int {
			ao, bo := strings.HasPrefix(a.Name, own), strings.HasPrefix(b.Name, own)
			if ao != bo {
				if ao {
					return -1
				}
				return 1
			}
			if d := nameIndex(a.Name) - nameIndex(b.Name); d != 0 {
				return d
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	var ch Change
	for pool, ms := range members {
		if !known[pool] {
			if !remove {
				return Change{}, fmt.Errorf("machines %s are in pool %q, which the cluster file no longer has; run \"prosper cluster scale\" to remove them, or add the pool back", machineNames(ms), pool)
			}
			ch.Remove = append(ch.Remove, ms...)
		}
	}
	var standbyTaken []Machine
	byGroup := map[string][]clusterfile.Node{}
	for _, g := range groups {
		have := members[g.Pool]
		if g.Pool == clusterfile.PoolStandby {
			have = slices.DeleteFunc(slices.Clone(have), func(m Machine) bool {
				return slices.ContainsFunc(standbyTaken, func(t Machine) bool { return t.Name == m.Name })
			})
		}
		if g.Pool == clusterfile.PoolControlPlane && len(have) > g.Count {
			return Change{}, fmt.Errorf("the cluster has %d control planes and the file asks for %d; prosper does not remove control planes (etcd would lose quorum): set controlPlane.count back to %d", len(have), g.Count, len(have))
		}
		if g.Pool == clusterfile.PoolControlPlane && len(have) > 0 && len(have) < g.Count && len(have) != 1 {
			return Change{}, fmt.Errorf("the cluster has %d control planes; the file asks for %d: only 1 → 3 is supported", len(have), g.Count)
		}
		var nodes []clusterfile.Node
		for i, m := range have {
			if i >= g.Count {
				if !remove {
					return Change{}, fmt.Errorf("pool %s has %d nodes and the file asks for %d; run \"prosper cluster scale\" to remove %s", g.Pool, len(have), g.Count, machineNames(have[g.Count:]))
				}
				ch.Remove = append(ch.Remove, m)
				continue
			}
			n := g.Node(max(nameIndex(m.Name), 1))
			n.Name = m.Name
			nodes = append(nodes, n)
		}
		short := g.Count - len(nodes)
		if promote && short > 0 && g.Pool != clusterfile.PoolControlPlane && g.Pool != clusterfile.PoolStandby {
			for _, s := range members[clusterfile.PoolStandby] {
				if short == 0 {
					break
				}
				if slices.ContainsFunc(standbyTaken, func(t Machine) bool { return t.Name == s.Name }) {
					continue
				}
				standbyTaken = append(standbyTaken, s)
				n := g.Node(1)
				n.Name = s.Name
				ch.Promote = append(ch.Promote, Promotion{Node: n, From: standbyNode(c, s)})
				nodes = append(nodes, n)
				short--
			}
		}
		for i := 1; short > 0; i++ {
			n := g.Node(i)
			if used[n.Name] {
				continue
			}
			used[n.Name] = true
			nodes = append(nodes, n)
			ch.Add = append(ch.Add, n)
			short--
		}
		byGroup[g.Pool] = nodes
	}
	for _, g := range groups {
		ch.Nodes = append(ch.Nodes, byGroup[g.Pool]...)
	}
	return ch, nil
}

// standbyNode is the node a standby machine is now.
func standbyNode(c clusterfile.Cluster, m Machine) clusterfile.Node {
	for _, g := range c.Groups() {
		if g.Pool == clusterfile.PoolStandby {
			n := g.Node(max(nameIndex(m.Name), 1))
			n.Name = m.Name
			return n
		}
	}
	return clusterfile.Node{Name: m.Name}
}

// nameIndex is the trailing number of a node name ("acme-workers-3" → 3), 0
// when there is none.
func nameIndex(name string) int {
	i := strings.LastIndexByte(name, '-')
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return 0
	}
	return n
}

func machineNames(ms []Machine) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}
