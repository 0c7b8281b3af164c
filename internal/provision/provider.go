package provision

import (
	"context"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Machine is a server of a cluster as its provider sees it.
type Machine struct {
	Name      string
	Pool      string
	Role      clusterfile.Role
	PublicIP  string
	PrivateIP string
	// SSHAddr is host:port prosper logs in to, as SSHUser, with the cluster's
	// key once Ensure has authorized it.
	SSHAddr string
	SSHUser string
	// Status is "creating", "running", "off" or "deleting".
	Status string
	Labels map[string]string
}

// Provider is where a cluster's machines come from: Hetzner Cloud, any hosts
// reachable over SSH, later libvirt. It is small on purpose: everything after
// the machines (SSH, k3s, the platform) is the same for every provider.
//
// Every method is idempotent and finds what exists by the cluster's label
// (clusterfile.LabelCluster), never by name alone, so a re-run after a failure
// converges and a delete never touches what the cluster did not create.
type Provider interface {
	// Name is the provider's name in the cluster file: "hetzner", "ssh".
	Name() string
	// Plan says what Ensure would create or change, one line per action,
	// without calling anything that changes the provider's state.
	Plan(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node) ([]string, error)
	// Ensure makes the machines of nodes exist and run, with the cluster's
	// SSH key authorized (authorizedKey, an authorized_keys line), and returns
	// them in the order of nodes. Provider-wide resources (key, network,
	// firewall, placement group) are ensured first.
	Ensure(ctx context.Context, c clusterfile.Cluster, nodes []clusterfile.Node, authorizedKey string, p *Progress) ([]Machine, error)
	// Machines lists the cluster's machines that exist now.
	Machines(ctx context.Context, c clusterfile.Cluster) ([]Machine, error)
	// Remove deletes the named machines of the cluster.
	Remove(ctx context.Context, c clusterfile.Cluster, names []string, p *Progress) error
	// Delete deletes everything labelled as the cluster's (machines, network,
	// firewall, key, placement group, and the load balancers and volumes its
	// workloads created), and nothing else.
	Delete(ctx context.Context, c clusterfile.Cluster, p *Progress) error
}

// Snapshotter is implemented by providers that can snapshot a set-up machine so
// that later machines boot from it with k3s already installed (Hetzner's
// "snapshot" setting). Ensure then uses the newest snapshot of the cluster for
// new machines.
type Snapshotter interface {
	Snapshot(ctx context.Context, c clusterfile.Cluster, machine string, p *Progress) error
}
