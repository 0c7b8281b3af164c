// Package simhost is a Hetzner Cloud simulator (hcloudsim) whose servers are
// real test hosts (testhost) with the fake k3s installed, for tests that run
// prosper's engine or CLI against "Hetzner" end to end: every server the
// simulator creates is an sshd in a network namespace that accepts the keys
// the create request gave it, and its address is both its public and its
// private IP.
package simhost

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// Token is the API token the simulator accepts.
const Token = "simhost-token"

// Options tune a Cloud.
type Options struct {
	// Sim is the simulator's options; Token, OnServerCreate, OnServerDelete
	// and HostIPs are set by Start. Actions take 100ms unless set.
	Sim hcloudsim.Options
	// Real says which servers become real hosts; nil means all. The others
	// get an address of the simulator's and nothing answers on it.
	Real func(name string) bool
}

// Cloud is a running simulator with the hosts of its servers.
type Cloud struct {
	*hcloudsim.Sim

	t    testing.TB
	real func(string) bool

	mu      sync.Mutex
	spare   *testhost.Host
	hosts   map[string]*testhost.Host
	deleted []string
}

// Start starts the simulator, closed when the test ends. It makes the first
// host at once, in the test's goroutine, so that a machine that cannot run
// test hosts skips the test here and not inside an API call; later hosts are
// made in the simulator's create call, as the server boots.
func Start(t testing.TB, opts Options) *Cloud {
	t.Helper()
	c := &Cloud{t: t, real: opts.Real, hosts: map[string]*testhost.Host{}}
	c.spare = testhost.New(t, testhost.Options{})
	so := opts.Sim
	so.Token = Token
	so.HostIPs = true
	if so.ActionDuration == 0 {
		so.ActionDuration = 100 * time.Millisecond
	}
	so.OnServerCreate = c.create
	so.OnServerDelete = c.remove
	sim, err := hcloudsim.Start(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	c.Sim = sim
	return c
}

// create makes the server's host: the fake k3s, the keys of the request's
// ssh_keys and of the user data's ssh_authorized_keys authorized for root.
func (c *Cloud) create(name, userData string, keys []string) (string, error) {
	if c.real != nil && !c.real(name) {
		return "", nil
	}
	c.mu.Lock()
	h := c.spare
	c.spare = nil
	c.mu.Unlock()
	if h == nil {
		h = testhost.New(c.t, testhost.Options{})
	}
	fakek3s.Install(c.t, h, fakek3s.Options{})
	var authorized []string
	for _, k := range append(keys, UserDataKeys(userData)...) {
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(authorized, k) {
			authorized = append(authorized, k)
			h.Authorize(k)
		}
	}
	c.mu.Lock()
	c.hosts[name] = h
	c.mu.Unlock()
	return h.IP(), nil
}

// remove stops the host's sshd: the server is gone.
func (c *Cloud) remove(name, _ string) {
	c.mu.Lock()
	h := c.hosts[name]
	delete(c.hosts, name)
	c.deleted = append(c.deleted, name)
	c.mu.Unlock()
	if h != nil {
		h.Stop()
	}
}

// Host is the host of the named server, nil when there is none (never
// created, deleted, or not real).
func (c *Cloud) Host(name string) *testhost.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[name]
}

// Names are the servers that have a host now, sorted.
func (c *Cloud) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.hosts))
	for n := range c.hosts {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Deleted are the servers deleted so far, in order.
func (c *Cloud) Deleted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deleted)
}

// UserDataKeys are the keys of a #cloud-config's ssh_authorized_keys list,
// as prosper's user data writes them (one per "  - " line, quoted or not).
func UserDataKeys(userData string) []string {
	var keys []string
	in := false
	for _, line := range strings.Split(userData, "\n") {
		switch {
		case strings.HasPrefix(line, "ssh_authorized_keys:"):
			in = true
		case in && strings.HasPrefix(strings.TrimSpace(line), "- "):
			k := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
			if u, err := strconv.Unquote(k); err == nil {
				k = u
			}
			keys = append(keys, k)
		default:
			in = false
		}
	}
	return keys
}
