package compare

import (
	"slices"
	"sync"
)

// OtherEndpoint collects what exceeds the endpoint caps of Noise and Tracker,
// so that an application with unbounded paths cannot grow their memory.
const OtherEndpoint = "other"

// NoiseOptions tune what Noise calls noisy. Zero fields take the defaults.
type NoiseOptions struct {
	// MinCount is the number of live pairs a place must have differed in
	// (default 1).
	MinCount int
	// MinShare is the share of observed live pairs it must have differed in,
	// 0..1 (default 0.05).
	MinShare float64
	// MaxEndpoints caps the endpoints remembered (default 200).
	MaxEndpoints int
	// MaxPaths caps the places remembered per endpoint (default 256).
	MaxPaths int
}

func (o NoiseOptions) withDefaults() NoiseOptions {
	if o.MinCount <= 0 {
		o.MinCount = 1
	}
	if o.MinShare <= 0 {
		o.MinShare = 0.05
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = 200
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = 256
	}
	return o
}

// Noise learns, per endpoint, the places where two answers of the live release
// to the same request differ: timestamps, generated ids, counters. A candidate's
// difference at such a place says nothing about the candidate, so Filter drops
// it. This is the approach of Twitter's Diffy.
//
// A place is a generalized path ($.items[*].id) and a class of difference:
// value, type, presence (missing or extra, since the order of two live answers
// is arbitrary), length, status, header or body. Learning that $.now changes
// value therefore does not hide a candidate that turns $.now into a number.
//
// Noise is safe for concurrent use.
type Noise struct {
	opts NoiseOptions

	mu        sync.RWMutex
	endpoints map[string]*endpointNoise
}

type endpointNoise struct {
	pairs  int
	places map[noisePlace]int
}

type noisePlace struct {
	path  string
	class string
}

// NewNoise returns an empty Noise.
func NewNoise(opts NoiseOptions) *Noise {
	return &Noise{opts: opts.withDefaults(), endpoints: make(map[string]*endpointNoise)}
}

// ObserveLivePair records two answers of the live release to the same request
// (the router can send a sample of requests twice to live, or to two live
// instances) under the endpoint named by Endpoint.
func (n *Noise) ObserveLivePair(endpoint string, a, b Response) {
	res := Diff(a, b, Options{MaxDifferences: n.opts.MaxPaths})
	seen := make(map[noisePlace]bool, len(res.Differences))
	for _, d := range res.Differences {
		seen[placeOf(d)] = true
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.endpoints[endpoint]
	if e == nil {
		if len(n.endpoints) >= n.opts.MaxEndpoints {
			endpoint = OtherEndpoint
			e = n.endpoints[endpoint]
		}
		if e == nil {
			e = &endpointNoise{places: make(map[noisePlace]int)}
			n.endpoints[endpoint] = e
		}
	}
	e.pairs++
	for p := range seen {
		if _, ok := e.places[p]; ok || len(e.places) < n.opts.MaxPaths {
			e.places[p]++
		}
	}
}

// IsNoisy reports whether a difference of the candidate at this endpoint is a
// place where the live release disagrees with itself.
func (n *Noise) IsNoisy(endpoint string, d Difference) bool {
	if n == nil {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	e := n.lookup(endpoint)
	return e != nil && n.noisy(e, e.places[placeOf(d)])
}

// Filter returns the differences that are not noise at this endpoint, and how
// many were dropped. The input slice is not modified.
func (n *Noise) Filter(endpoint string, diffs []Difference) (kept []Difference, dropped int) {
	if n == nil || len(diffs) == 0 {
		return diffs, 0
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	e := n.lookup(endpoint)
	if e == nil {
		return diffs, 0
	}
	kept = make([]Difference, 0, len(diffs))
	for _, d := range diffs {
		if n.noisy(e, e.places[placeOf(d)]) {
			dropped++
			continue
		}
		kept = append(kept, d)
	}
	return kept, dropped
}

// NoisyPaths lists the generalized paths learned as noisy for an endpoint.
func (n *Noise) NoisyPaths(endpoint string) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	e := n.lookup(endpoint)
	if e == nil {
		return nil
	}
	var paths []string
	for p, count := range e.places {
		if n.noisy(e, count) {
			paths = append(paths, p.path)
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// lookup finds an endpoint's record, falling back to the lump of overflowing
// endpoints. Callers hold n.mu.
func (n *Noise) lookup(endpoint string) *endpointNoise {
	if e := n.endpoints[endpoint]; e != nil {
		return e
	}
	if len(n.endpoints) >= n.opts.MaxEndpoints {
		return n.endpoints[OtherEndpoint]
	}
	return nil
}

func (n *Noise) noisy(e *endpointNoise, count int) bool {
	return count >= n.opts.MinCount && float64(count) >= n.opts.MinShare*float64(e.pairs)
}

func placeOf(d Difference) noisePlace {
	class := d.Kind
	if class == KindMissing || class == KindExtra {
		class = "presence"
	}
	return noisePlace{path: Generalize(d.Path), class: class}
}
