package router

import (
	"strconv"
	"sync"
	"sync/atomic"
)

// compiledTable is the form of a Table the request path reads: one map lookup per
// request. It is never modified after it is built; SetTable builds a new one and
// swaps the pointer, so a request keeps the route it looked up even if the table
// changes while it runs.
type compiledTable struct {
	source Table
	hosts  map[string]*route
}

// route is one app's compiled route.
type route struct {
	app string
	// mirror is the candidate that gets copies of the requests, or nil.
	mirror *mirrorTarget
	// live holds the backends that can take traffic: weight > 0 and at least one
	// address. The others are kept out of the request path entirely.
	live []*backend

	mu      sync.Mutex // guards current
	current []int      // smooth weighted round-robin state, one entry per live backend
	total   int        // sum of the live weights
}

// backend is one release of an app with its replicas.
type backend struct {
	app     string
	release int
	label   string // "v3", sent in the Prosper-Release header
	weight  int
	addrs   []string
	next    atomic.Uint64 // round-robin position across addrs
	metrics *releaseMetrics
}

// compile builds the request-path form of a validated table. Metrics come from
// the registries so a release or candidate keeps its counters across table changes.
func compile(t Table, reg *metricsRegistry, mirrors *mirrorRegistry) *compiledTable {
	ct := &compiledTable{source: t, hosts: make(map[string]*route)}
	for _, r := range t.Routes {
		rt := &route{app: r.App}
		if r.Mirror != nil {
			rt.mirror = compileMirror(r.App, r.Mirror, mirrors)
		}
		for _, b := range r.Backends {
			// Every release of the table gets its metrics, so a reader sees a
			// release at 0 before it takes traffic, not a missing entry.
			m := reg.get(r.App, b.Release)
			if b.Weight <= 0 || len(b.Addrs) == 0 {
				continue
			}
			rt.live = append(rt.live, &backend{
				app:     r.App,
				release: b.Release,
				label:   "v" + strconv.Itoa(b.Release),
				weight:  b.Weight,
				addrs:   b.Addrs,
				metrics: m,
			})
			rt.total += b.Weight
		}
		rt.current = make([]int, len(rt.live))
		for _, h := range r.Hosts {
			ct.hosts[normalizeHost(h)] = rt
		}
	}
	return ct
}

// pick chooses the backend for the next request with smooth weighted round-robin
// (the nginx algorithm): over any run of total requests each backend gets exactly
// its weight, and the picks are interleaved rather than bunched. It returns nil when
// the route has no live backend.
func (r *route) pick() *backend {
	switch len(r.live) {
	case 0:
		return nil
	case 1:
		return r.live[0]
	}
	r.mu.Lock()
	best := 0
	for i, b := range r.live {
		r.current[i] += b.weight
		if r.current[i] > r.current[best] {
			best = i
		}
	}
	r.current[best] -= r.total
	r.mu.Unlock()
	return r.live[best]
}

// alternative chooses where to retry a request whose connection to addr of failed
// was refused: another replica of the same release if there is one, because that
// keeps the traffic split intact, otherwise the heaviest other live release.
func (r *route) alternative(failed *backend, addr string) (*backend, string) {
	for range len(failed.addrs) - 1 {
		if next := failed.nextAddr(); next != addr {
			return failed, next
		}
	}
	var best *backend
	for _, b := range r.live {
		if b != failed && (best == nil || b.weight > best.weight) {
			best = b
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, best.nextAddr()
}

// nextAddr returns the backend's replicas in turn.
func (b *backend) nextAddr() string {
	if len(b.addrs) == 1 {
		return b.addrs[0]
	}
	n := b.next.Add(1) - 1
	return b.addrs[n%uint64(len(b.addrs))]
}
