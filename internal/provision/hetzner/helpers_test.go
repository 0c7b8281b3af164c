package hetzner

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

const token = "test-token"

// startSim starts a simulator with quick actions, closed when the test ends.
func startSim(t *testing.T, opts hcloudsim.Options) *hcloudsim.Sim {
	t.Helper()
	opts.Token = token
	if opts.ActionDuration == 0 {
		opts.ActionDuration = 30 * time.Millisecond
	}
	if opts.ServerBootDuration == 0 {
		opts.ServerBootDuration = 150 * time.Millisecond
	}
	sim, err := hcloudsim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

func newProvider(t *testing.T, sim *hcloudsim.Sim) *Provider {
	t.Helper()
	pr, err := New(Options{Token: token, Endpoint: sim.URL, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// client is a plain hcloud-go client for checking and seeding the project.
func client(sim *hcloudsim.Sim) *hcloud.Client {
	return hcloud.NewClient(hcloud.WithToken(token), hcloud.WithEndpoint(sim.URL),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(20 * time.Millisecond)}))
}

// testCluster is a cluster of cp control planes and workers workers.
func testCluster(name string, cp, workers int) clusterfile.Cluster {
	c := clusterfile.Default()
	c.Metadata.Name = name
	c.Spec.Provider.Hetzner = &clusterfile.Hetzner{Locations: []string{"fsn1", "nbg1"}, Image: "ubuntu-24.04"}
	c.Spec.ControlPlane = clusterfile.ControlPlane{Count: cp, ServerType: "cpx21"}
	if workers > 0 {
		c.Spec.Pools = []clusterfile.Pool{{Name: "workers", Count: workers, ServerType: "cx22"}}
	}
	c.Spec.Firewall = []clusterfile.Rule{{Port: "22", Sources: []string{"0.0.0.0/0"}}, {Port: "6443", Sources: []string{"198.18.0.0/15"}}}
	return c
}

// run runs fn as a phase and returns what it reported.
func run(t *testing.T, fn func(p *provision.Progress) error) (string, error) {
	t.Helper()
	var out bytes.Buffer
	r := provision.Runner{Out: &out}
	err := r.Run(context.Background(), []provision.Phase{{Name: "servers", Run: func(_ context.Context, p *provision.Progress) error { return fn(p) }}})
	return out.String(), err
}

var (
	keysMu sync.Mutex
	keys   = map[string]string{}
)

// ensure runs Ensure with the test's cluster key, the same on every run as
// prosper's stored key is.
func ensure(t *testing.T, pr *Provider, c clusterfile.Cluster) ([]provision.Machine, string, error) {
	t.Helper()
	keysMu.Lock()
	key, ok := keys[t.Name()]
	if !ok {
		var err error
		if _, key, _, err = sshx.GenerateKey("prosper@" + c.Metadata.Name); err != nil {
			t.Fatal(err)
		}
		keys[t.Name()] = key
	}
	keysMu.Unlock()
	return ensureWithKey(t, pr, c, key)
}

func ensureWithKey(t *testing.T, pr *Provider, c clusterfile.Cluster, key string) ([]provision.Machine, string, error) {
	t.Helper()
	var ms []provision.Machine
	out, err := run(t, func(p *provision.Progress) error {
		var err error
		ms, err = pr.Ensure(context.Background(), c, c.Plan(), key, p)
		return err
	})
	return ms, out, err
}

// delta returns how many calls each route received since before.
func delta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func sum(m map[string]int, skip ...string) int {
	n := 0
outer:
	for k, v := range m {
		for _, s := range skip {
			if k == s {
				continue outer
			}
		}
		n += v
	}
	return n
}
