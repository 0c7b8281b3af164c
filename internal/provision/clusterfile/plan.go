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

// Plan returns the nodes the cluster should have: control planes first, then each
// pool in the order of the file, then the standby nodes. Nodes of each group are
// spread round-robin over the Hetzner locations; the ssh provider's machines are
// taken in the order of the host list.
func (c Cluster) Plan() []Node {
	s := c.Spec
	// With no worker to take them, workloads must run on the control planes.
	workers := false
	for _, p := range s.Pools {
		workers = workers || (!p.Platform && p.Count > 0)
	}
	var nodes []Node
	add := func(n Node, count int, name string, extra map[string]string) {
		for i := 1; i <= count; i++ {
			node := n
			node.Name = nodeName(c.Metadata.Name, name, i)
			node.Labels = map[string]string{
				LabelCluster: c.Metadata.Name,
				LabelPool:    n.Pool,
				LabelRole:    string(n.Role),
			}
			maps.Copy(node.Labels, extra)
			node.Taints = append([]Taint(nil), n.Taints...)
			if h := s.Provider.Hetzner; h != nil {
				node.Location = h.Locations[(i-1)%len(h.Locations)]
			}
			nodes = append(nodes, node)
		}
	}
	cp := Node{Role: RoleControlPlane, Pool: PoolControlPlane, ServerType: s.ControlPlane.ServerType}
	if workers {
		cp.Taints = []Taint{{LabelControlPlaneRole, "true", "NoSchedule"}}
	}
	add(cp, s.ControlPlane.Count, "cp", nil)
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
		add(n, p.Count, p.Name, extra)
	}
	// Standby nodes are joined but kept free, so that promoting one is a matter of
	// relabelling it and removing the taint.
	standby := Node{Role: RoleStandby, Pool: PoolStandby, ServerType: c.standbyServerType(),
		Taints: []Taint{{LabelStandby, "true", "NoSchedule"}}}
	add(standby, s.Standby, PoolStandby, map[string]string{LabelStandby: "true"})
	if ssh := s.Provider.SSH; ssh != nil {
		assignHosts(nodes, ssh.Hosts)
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

// assignHosts gives each node the next unused machine of its pool, in the order of
// the host list. Validation has made sure there are enough.
func assignHosts(nodes []Node, hosts []Host) {
	next := map[string]int{}
	for i := range nodes {
		pool := nodes[i].Pool
		for j := next[pool]; j < len(hosts); j++ {
			if hosts[j].Pool == pool {
				nodes[i].Address = hosts[j].Address
				next[pool] = j + 1
				break
			}
		}
	}
}
