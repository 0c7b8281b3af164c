// Package clusterfile reads CLUSTER.yaml, the file that describes a k3s cluster that
// "prosper cluster create" builds: the provider and its machines, the k3s version,
// the node pools, the private network, the firewall and the platform stack.
//
// The file is versioned (apiVersion, kind, metadata, spec) like a Kubernetes object.
// Parse is strict: an unknown key, a value of the wrong kind or a setting that
// contradicts another is an *Error naming the file, line and column and, when it can,
// saying what to write instead. Settings left out take the values of Default.
// Plan turns a parsed cluster into the list of nodes it should have.
package clusterfile

import (
	"fmt"
	"os"
)

// APIVersion and Kind identify a cluster file; a future incompatible format gets a
// new APIVersion so that old binaries refuse it instead of misreading it.
const (
	APIVersion = "prosper.dev/v1alpha1"
	Kind       = "Cluster"
)

// DefaultK3sVersion is the k3s release installed when the file names none. It is
// pinned, never "latest", so that two runs of the same file build the same cluster.
const DefaultK3sVersion = "v1.31.4+k3s1"

// Defaults for settings the file may leave out.
const (
	DefaultNetworkCIDR       = "10.0.0.0/16"
	DefaultImage             = "ubuntu-24.04"
	DefaultControlServerType = "cpx21"
	DefaultPoolServerType    = "cpx31"
	DefaultSSHUser           = "root"
	DefaultSSHPort           = 22
)

// LabelCluster is set to the cluster's name on every node and on every provider
// resource prosper creates, so that teardown finds exactly what is its own.
const LabelCluster = "prosper.dev/cluster"

// Cluster is the content of a cluster file after defaults have been applied.
type Cluster struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   Metadata `yaml:"metadata"`
	Spec       Spec     `yaml:"spec"`

	// warnings are accepted settings worth a second look, such as the default
	// firewall open to the world.
	warnings []string
}

// Metadata names the cluster.
type Metadata struct {
	// Name is a DNS label; it prefixes every node's name and is the value of the
	// LabelCluster label on every resource.
	Name string `yaml:"name"`
}

// Spec is the desired cluster.
type Spec struct {
	Provider     Provider     `yaml:"provider"`
	K3s          K3s          `yaml:"k3s"`
	ControlPlane ControlPlane `yaml:"controlPlane"`
	// Pools are the worker pools, in the order written.
	Pools []Pool `yaml:"pools"`
	// Standby is the number of nodes kept joined but cordoned by a taint, ready to
	// be promoted into a pool by "prosper cluster scale" without waiting for a boot.
	Standby  int      `yaml:"standby"`
	Network  Network  `yaml:"network"`
	Firewall []Rule   `yaml:"firewall"`
	SSHKeys  []string `yaml:"sshKeys"`
	Platform Platform `yaml:"platform"`
}

// Provider says where the machines come from; exactly one field is set.
type Provider struct {
	Hetzner *Hetzner `yaml:"hetzner"`
	SSH     *SSH     `yaml:"ssh"`
}

// Hetzner creates the machines on Hetzner Cloud. The API token is read from the
// HCLOUD_TOKEN environment variable, as the hcloud CLI does, never from the file.
type Hetzner struct {
	// Locations are the data centres nodes are spread over, round-robin.
	Locations []string `yaml:"locations"`
	// NetworkZone holds every location; by default the zone of the first one.
	NetworkZone string `yaml:"networkZone"`
	// Image is the operating system of new servers.
	Image string `yaml:"image"`
	// Snapshot makes prosper snapshot the first node once it is set up so that
	// later nodes boot from it with k3s already installed.
	Snapshot bool `yaml:"snapshot"`
}

// SSH uses machines that already exist and are reachable over SSH.
type SSH struct {
	User string `yaml:"user"`
	Port int    `yaml:"port"`
	// IdentityFile is the private key to log in with; empty means the SSH agent.
	IdentityFile string `yaml:"identityFile"`
	Hosts        []Host `yaml:"hosts"`
}

// Host is one machine of the ssh provider and the pool it serves in: PoolControlPlane,
// PoolStandby or the name of a worker pool.
type Host struct {
	Address string `yaml:"address"`
	Pool    string `yaml:"pool"`
}

// K3s selects the Kubernetes distribution's release.
type K3s struct {
	Version string `yaml:"version"`
	// AirGapped uploads the k3s binary and its images instead of letting nodes
	// download them.
	AirGapped bool `yaml:"airGapped"`
}

// ControlPlane sizes the k3s servers: 1, or 3 for HA with embedded etcd.
type ControlPlane struct {
	Count      int    `yaml:"count"`
	ServerType string `yaml:"serverType"`
}

// Pool is a group of identical worker nodes.
type Pool struct {
	Name       string            `yaml:"name"`
	Count      int               `yaml:"count"`
	ServerType string            `yaml:"serverType"`
	Labels     map[string]string `yaml:"labels"`
	// Platform pools are labelled and tainted so that only the platform's own
	// heavy workloads (databases, registry, metrics, logs) run there.
	Platform bool `yaml:"platform"`
}

// Network is the private network between the nodes.
type Network struct {
	CIDR string `yaml:"cidr"`
}

// Rule opens a TCP port or port range to the source networks.
type Rule struct {
	// Port is "80" or a range "30000-32767".
	Port    string   `yaml:"port"`
	Sources []string `yaml:"sources"`
}

// Platform selects the components of the platform stack; each one can be left out.
type Platform struct {
	NATS     bool     `yaml:"nats"`
	Postgres Postgres `yaml:"postgres"`
	Registry bool     `yaml:"registry"`
	Metrics  bool     `yaml:"metrics"`
	Logs     bool     `yaml:"logs"`
	// ProsperImage is a published image of prosper (REPO:TAG or
	// REPO@sha256:...) that its chart runs. Empty, prosper builds its own
	// image from the binary that creates the cluster and pushes it to the
	// platform's registry.
	ProsperImage string `yaml:"prosperImage"`
}

// Postgres configures the platform's PostgreSQL.
type Postgres struct {
	Enabled bool `yaml:"enabled"`
	// Backup is nil when the database is not backed up continuously.
	Backup *Backup `yaml:"backup"`
}

// Backup is where PostgreSQL's continuous backup goes.
type Backup struct {
	S3 S3 `yaml:"s3"`
}

// S3 is an S3-compatible bucket. Credentials come from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, never from the file.
type S3 struct {
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	Region   string `yaml:"region"`
}

// Pool names with a fixed meaning, in ssh hosts and in node labels.
const (
	PoolControlPlane = "control-plane"
	PoolStandby      = "standby"
)

// Default returns the settings that apply to whatever a cluster file leaves out.
// It has no provider and no name: a file must give both.
func Default() Cluster {
	return Cluster{
		APIVersion: APIVersion,
		Kind:       Kind,
		Spec: Spec{
			K3s:          K3s{Version: DefaultK3sVersion},
			ControlPlane: ControlPlane{Count: 1},
			Network:      Network{CIDR: DefaultNetworkCIDR},
			Platform: Platform{
				NATS: true, Postgres: Postgres{Enabled: true}, Registry: true, Metrics: true, Logs: true,
			},
		},
	}
}

// Warnings lists accepted settings worth a second look, such as a firewall that
// lets the whole internet reach SSH; the CLI prints them before it acts.
func (c Cluster) Warnings() []string { return c.warnings }

// Parse reads the content of a cluster file, applies the defaults and validates the
// result. file is used in error messages only. Every error is an *Error.
func Parse(file string, data []byte) (Cluster, error) {
	c := Default()
	d := newDecoder(file)
	if err := d.decodeFile(data, &c); err != nil {
		return Cluster{}, err
	}
	if err := d.validate(&c); err != nil {
		return Cluster{}, err
	}
	return c, nil
}

// Load reads and parses the cluster file at path.
func Load(path string) (Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Cluster{}, fmt.Errorf("read cluster file: %w", err)
	}
	return Parse(path, data)
}
