// Package hetzner is the provision.Provider for Hetzner Cloud, built on
// hcloud-go. Everything it creates carries the cluster's label
// (clusterfile.LabelCluster=<cluster name>) and everything it touches is
// found by that label, never by name alone: a resource with the name prosper
// would give but without the label is reported as an error, never adopted and
// never deleted.
//
// It is frugal with API calls, because a project has 3,600 requests per hour:
// one POST per new server (networks, firewall and placement group go in the
// create request), list calls shared by all nodes, and one batched poll of
// the running actions per interval. A 429 is waited out until the reset the
// RateLimit headers give, and reported, never turned into a failure.
package hetzner

import (
	"cmp"

	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// LabelK3sVersion is set on snapshots to the k3s version installed on them,
// written as a label value can hold it ("v1.31.4+k3s1" becomes
// "v1.31.4-k3s1": Hetzner label values cannot hold '+').
const LabelK3sVersion = "prosper.dev/k3s-version"

// Options configures a Provider.
type Options struct {
	// Token is the API token; the caller reads it from HCLOUD_TOKEN.
	Token string
	// Endpoint is the API's base URL; empty means the real API. Tests give
	// the simulator's URL.
	Endpoint string
	// SSHPort is the port of the returned SSHAddr (default 22).
	SSHPort int
	// PollInterval is how often running actions are polled, all in one
	// batched call (default 1s).
	PollInterval time.Duration
	// Parallel bounds concurrent create and delete calls (default 20).
	Parallel int
	// Retries bounds the attempts on a transient error (5xx, conflict,
	// locked) before it is returned (default 8); rate limiting is waited out
	// without limit.
	Retries int
	// MaxBackoff caps the wait between retries and after a 429 (default 60s).
	MaxBackoff time.Duration
	// HTTPClient is the HTTP client for API calls; nil means a default one.
	HTTPClient *http.Client
}

// Provider creates a cluster's machines on Hetzner Cloud. It implements
// provision.Provider and provision.Snapshotter.
type Provider struct {
	opts   Options
	client *hcloud.Client

	// pausedUntil holds every call back while the project is rate limited,
	// so that parallel creates do not each run into the limit.
	mu          sync.Mutex
	pausedUntil time.Time

	// planned is the inventory Plan listed, which the Ensure right after it
	// (the engine prints a phase's plan, then runs it) takes instead of
	// listing everything again: five calls saved per run.
	planned   *inventory
	plannedAt time.Time
	plannedOf string
}

// plannedFresh is how long Plan's inventory stands in for Ensure's: long
// enough for the engine to go from a phase's plan to its run, short enough
// that it is as fresh as a list Ensure would make itself.
const plannedFresh = 5 * time.Second

// keepPlanned remembers Plan's inventory of cluster for the next Ensure.
func (pr *Provider) keepPlanned(cluster string, inv *inventory) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.planned, pr.plannedAt, pr.plannedOf = inv, time.Now(), cluster
}

// takePlanned returns Plan's inventory of cluster if it is fresh, once.
func (pr *Provider) takePlanned(cluster string) *inventory {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	inv := pr.planned
	ok := inv != nil && pr.plannedOf == cluster && time.Since(pr.plannedAt) < plannedFresh
	pr.planned = nil
	if !ok {
		return nil
	}
	return inv
}

var (
	_ provision.Provider    = (*Provider)(nil)
	_ provision.Snapshotter = (*Provider)(nil)
)

// New returns a provider for the project of opts.Token.
func New(opts Options) (*Provider, error) {
	if opts.Token == "" {
		return nil, errors.New("hetzner: no API token: set HCLOUD_TOKEN to a read & write token of the project")
	}
	opts.SSHPort = cmp.Or(opts.SSHPort, clusterfile.DefaultSSHPort)
	opts.PollInterval = cmp.Or(opts.PollInterval, time.Second)
	opts.Parallel = cmp.Or(opts.Parallel, 20)
	opts.Retries = cmp.Or(opts.Retries, 8)
	opts.MaxBackoff = cmp.Or(opts.MaxBackoff, time.Minute)
	clientOpts := []hcloud.ClientOption{
		hcloud.WithToken(opts.Token),
		hcloud.WithApplication("prosper", "dev"),
		// prosper retries itself, to report rate limiting and to tell
		// transient errors from permanent ones.
		hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: hcloud.ConstantBackoff(0), MaxRetries: 0}),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(opts.PollInterval)}),
	}
	if opts.Endpoint != "" {
		clientOpts = append(clientOpts, hcloud.WithEndpoint(opts.Endpoint))
	}
	if opts.HTTPClient != nil {
		clientOpts = append(clientOpts, hcloud.WithHTTPClient(opts.HTTPClient))
	}
	return &Provider{opts: opts, client: hcloud.NewClient(clientOpts...)}, nil
}

// Name is "hetzner".
func (pr *Provider) Name() string { return "hetzner" }

// clusterSelector selects everything of cluster c.
func clusterSelector(c clusterfile.Cluster) string {
	return clusterfile.LabelCluster + "=" + c.Metadata.Name
}

// clusterLabels are the labels of a cluster-wide resource.
func clusterLabels(c clusterfile.Cluster) map[string]string {
	return map[string]string{clusterfile.LabelCluster: c.Metadata.Name}
}

// report writes a node event when there is someone to tell.
func report(p *provision.Progress, node, format string, args ...any) {
	if p != nil {
		p.Node(node, format, args...)
	}
}

// notOurs is the error for a resource that has prosper's name but not the
// cluster's label.
func notOurs(kind, name string, c clusterfile.Cluster) error {
	return fmt.Errorf("a %s named %s exists in the project but is not labelled %s: prosper never adopts or deletes it; rename or delete it, or rename the cluster",
		kind, name, clusterSelector(c))
}

// hetznerSpec returns the cluster's Hetzner settings.
func hetznerSpec(c clusterfile.Cluster) (*clusterfile.Hetzner, error) {
	if c.Spec.Provider.Hetzner == nil {
		return nil, fmt.Errorf("cluster %s: spec.provider.hetzner is not set", c.Metadata.Name)
	}
	return c.Spec.Provider.Hetzner, nil
}

// readKeys reads the public key files of spec.sshKeys.
func readKeys(c clusterfile.Cluster) ([]string, error) {
	var keys []string
	for _, path := range c.Spec.SSHKeys {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read spec.sshKeys: %w", err)
		}
		keys = append(keys, string(data))
	}
	return keys, nil
}
