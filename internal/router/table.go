// Package router is prosper's data plane HTTP proxy: it routes each request by host
// to an app, splits an app's traffic between its releases by weight, proxies it to
// one of the release's replicas and keeps per-release metrics. The control plane
// reconfigures it live with a complete Table; the router keeps serving the last
// table when the control plane is gone.
package router

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Table is the whole routing configuration of the data plane. The control plane
// sends a complete table each time; the router swaps it in atomically, so a request
// sees either the old table or the new one, never a mix.
type Table struct {
	Routes []Route `json:"routes"`
}

// Route sends the requests for an app's hosts to its backends.
type Route struct {
	App string `json:"app"`
	// Hosts are matched against the request's Host header without port,
	// case-insensitively: "shop.localhost", "shop.example.com".
	Hosts    []string  `json:"hosts"`
	Backends []Backend `json:"backends"`
	// Mirror, when set, copies a share of the requests the backends serve to a
	// candidate release; see MirrorPolicy. Nil mirrors nothing.
	Mirror *MirrorPolicy `json:"mirror,omitempty"`
}

// Backend is one release of an app and its share of the traffic.
type Backend struct {
	Release int      `json:"release"`
	Addrs   []string `json:"addrs"` // host:port of each replica
	// Weight is the relative share of requests; backends with weight 0 get none.
	Weight int `json:"weight"`
}

// ErrInvalidTable is wrapped by the errors Validate and SetTable return, so a caller
// can tell a bad table (a bug in whoever built it) from other failures.
var ErrInvalidTable = errors.New("invalid routing table")

// Validate reports every problem of the table at once: an app without a name or
// listed twice, a host served by two apps, a host with a port, a release listed
// twice in a route, a negative weight, an address that is not host:port, a mirror
// without a valid candidate or with a share outside 0..100.
func (t Table) Validate() error {
	var problems []error
	apps := make(map[string]bool, len(t.Routes))
	hostOwner := make(map[string]string)
	for i, r := range t.Routes {
		if r.App == "" {
			problems = append(problems, fmt.Errorf("route %d: app name is empty", i))
		} else if apps[r.App] {
			problems = append(problems, fmt.Errorf("app %q: listed in two routes", r.App))
		}
		apps[r.App] = true
		for _, h := range r.Hosts {
			if err := validateHost(h); err != nil {
				problems = append(problems, fmt.Errorf("app %q: %w", r.App, err))
				continue
			}
			key := normalizeHost(h)
			if owner, taken := hostOwner[key]; taken && owner != r.App {
				problems = append(problems, fmt.Errorf("host %q: served by both app %q and app %q", key, owner, r.App))
				continue
			}
			hostOwner[key] = r.App
		}
		releases := make(map[int]bool, len(r.Backends))
		for _, b := range r.Backends {
			if b.Release < 1 {
				problems = append(problems, fmt.Errorf("app %q: release %d: release numbers start at 1", r.App, b.Release))
			} else if releases[b.Release] {
				problems = append(problems, fmt.Errorf("app %q: release v%d listed twice", r.App, b.Release))
			}
			releases[b.Release] = true
			if b.Weight < 0 {
				problems = append(problems, fmt.Errorf("app %q: release v%d: weight %d is negative", r.App, b.Release, b.Weight))
			}
			for _, a := range b.Addrs {
				if err := validateAddr(a); err != nil {
					problems = append(problems, fmt.Errorf("app %q: release v%d: %w", r.App, b.Release, err))
				}
			}
		}
		if r.Mirror != nil {
			for _, err := range r.Mirror.problems() {
				problems = append(problems, fmt.Errorf("app %q: mirror: %w", r.App, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidTable, errors.Join(problems...))
	}
	return nil
}

func validateHost(h string) error {
	switch {
	case normalizeHost(h) == "":
		return fmt.Errorf("host %q is empty", h)
	case strings.ContainsAny(h, " \t\r\n/"):
		return fmt.Errorf("host %q: not a host name", h)
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return fmt.Errorf("host %q: hosts are matched without port; drop the port", h)
	}
	return nil
}

func validateAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("address %q: want host:port, e.g. 127.0.0.1:8081", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port must be a number from 1 to 65535", a)
	}
	return nil
}

// normalizeHost turns a Host header or a table host into the key the router
// matches on: no port, no IPv6 brackets, no trailing dot, lower case.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimPrefix(h, "[")
	h = strings.TrimSuffix(h, "]")
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// clone returns a deep copy, so the router's table never shares slices with a caller.
func (t Table) clone() Table {
	out := Table{Routes: slices.Clone(t.Routes)}
	for i := range out.Routes {
		r := &out.Routes[i]
		r.Hosts = slices.Clone(r.Hosts)
		r.Backends = slices.Clone(r.Backends)
		for j := range r.Backends {
			r.Backends[j].Addrs = slices.Clone(r.Backends[j].Addrs)
		}
		if r.Mirror != nil {
			m := *r.Mirror
			m.Addrs = slices.Clone(m.Addrs)
			r.Mirror = &m
		}
	}
	return out
}
