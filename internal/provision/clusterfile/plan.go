package clusterfile

import (
	"fmt"
	"maps"
)

// Labels and taints prosper puts on nodes; workloads select and tolerate them.
const (
	LabelPool     = "prosper.dev/pool"
	LabelRole     = "prosper.dev/role"
	LabelPlatform = "prosper.dev/platform"
	LabelStandby  = "prosper.dev/standby"
	// LabelControlPlaneRole is the taint key Kubernetes itself gives control planes.
	LabelControlPlaneRole = "node-role.kubernetes.io/control-plane"
)

// Role is what a node does in the cluster.
type Role string

// Node roles. A control plane runs a k3s server; the others run k3s agents.
const (
	RoleControlPlane Role = "control-plane"
	RoleWorker       Role = "worker"
	RoleStandby      Role = "standby"
)

// Taint is a Kubernetes node taint.
type Taint struct {
	Key, Value, Effect string
}

// String writes the taint as kubectl and k3s's --node-taint take it: "key=value:Effect".
func (t Taint) String() string { return t.Key + "=" + t.Value + ":" + t.Effect }

// Node is one machine the cluster should have.
type Node struct {
	// Name is stable: the same file always gives the same names, so that a re-run
	// finds the nodes an earlier one created instead of making new ones.
	Name string
	Role Role
	// Pool is PoolControlPlane, PoolStandby or the name of a worker pool.
	Pool string
	// ServerType and Location are the Hetzner server type and location; empty
	// for the ssh provider.
	ServerType string
	Location   string
	// Address is the machine's address for the ssh provider; empty for hetzner.
	Address string
	Labels  map[string]string
	Taints  []Taint
}

// nodeName is the name of the index-th (1-based) node of a pool.
func nodeName(cluster, pool string, index int) string {
	return fmt.Sprintf("%s-%s-%d", cluster, pool, index)
}

// Group is one pool of the cluster as a node template: the control planes, a
// worker pool or the standby nodes. Node(i) gives its i-th node.
type Group struct {
	// Pool is PoolControlPlane, PoolStandby or the name of a worker pool.
	Pool string
	// Count is how many nodes the file asks for.
	Count int
	// short is the pool's part of node names: "cp" for control planes.
	short    string
	template Node
	extra    map[string]string
	c        *Cluster
}

// Groups returns the cluster's pools in plan order: control planes, the worker
// pools in the order of the file, then standby.
func (c Cluster) Groups() []Group {
	s := c.Spec
	// With no worker to take them, workloads must run on the control planes.
	workers := false
	for _, p := range s.Pools {
		workers = workers || (!p.Platform && p.Count > 0)
	}
	cp := Node{Role: RoleControlPlane, Pool: PoolControlPlane, ServerType: s.ControlPlane.ServerType}
	if workers {
		cp.Taints = []Taint{{LabelControlPlaneRole, "true", "NoSchedule"}}
	}
	groups := []Group{{Pool: PoolControlPlane, Count: s.ControlPlane.Count, short: "cp", template: cp, c: &c}}
	for _, p := range s.Pools {
		n := Node{Role: RoleWorker, Pool: p.Name, ServerType: p.ServerType}
		extra := maps.Clone(p.Labels)
		if p.Platform {
			if extra == nil {
				extra = map[string]string{}
			}
			extra[LabelPlatform] = "true"
			n.Taints = []Taint{{LabelPlatform, "true", "NoSchedule"}}
		}
		groups = append(groups, Group{Pool: p.Name, Count: p.Count, short: p.Name, template: n, extra: extra, c: &c})
	}
	// Standby nodes are joined but kept free, so that promoting one is a matter of
	// relabelling it and removing the taint.
	standby := Node{Role: RoleStandby, Pool: PoolStandby, ServerType: c.standbyServerType(),
		Taints: []Taint{{LabelStandby, "true", "NoSchedule"}}}
	groups = append(groups, Group{Pool: PoolStandby, Count: s.Standby, short: PoolStandby, template: standby,
		extra: map[string]string{LabelStandby: "true"}, c: &c})
	return groups
}

// Node returns the group's index-th node (1-based): its stable name, labels,
// taints, and its Hetzner location (round-robin over the file's locations) or
// its ssh host (the index-th host of the pool in the file, if there is one).
func (g Group) Node(index int) Node {
	s := g.c.Spec
	node := g.template
	node.Name = nodeName(g.c.Metadata.Name, g.short, index)
	node.Labels = map[string]string{
		LabelCluster: g.c.Metadata.Name,
		LabelPool:    g.Pool,
		LabelRole:    string(g.template.Role),
	}
	maps.Copy(node.Labels, g.extra)
	node.Taints = append([]Taint(nil), g.template.Taints...)
	if h := s.Provider.Hetzner; h != nil && len(h.Locations) > 0 {
		node.Location = h.Locations[(index-1)%len(h.Locations)]
	}
	if ssh := s.Provider.SSH; ssh != nil {
		seen := 0
		for _, host := range ssh.Hosts {
			if host.Pool == g.Pool {
				if seen++; seen == index {
					node.Address = host.Address
					break
				}
			}
		}
	}
	return node
}

// Plan returns the nodes the cluster should have: control planes first, then each
// pool in the order of the file, then the standby nodes. Nodes of each group are
// spread round-robin over the Hetzner locations; the ssh provider's machines are
// taken in the order of the host list.
func (c Cluster) Plan() []Node {
	var nodes []Node
	for _, g := range c.Groups() {
		for i := 1; i <= g.Count; i++ {
			nodes = append(nodes, g.Node(i))
		}
	}
	return nodes
}

// standbyServerType is the server type of the first worker pool, which standby
// nodes most likely join, or the control planes' when there is no pool.
func (c Cluster) standbyServerType() string {
	for _, p := range c.Spec.Pools {
		if !p.Platform {
			return p.ServerType
		}
	}
	if len(c.Spec.Pools) > 0 {
		return c.Spec.Pools[0].ServerType
	}
	return c.Spec.ControlPlane.ServerType
}
