package compare

import (
	"cmp"
	"slices"
	"sync"
)

// ExcerptLimit bounds the request and response bodies kept in examples.
const ExcerptLimit = 2 << 10

// TrackerOptions configure a Tracker. Zero fields take the defaults.
type TrackerOptions struct {
	// Diff is passed to every Diff.
	Diff Options
	// Noise, when set, drops the differences learned from live pairs.
	Noise *Noise
	// MaxEndpoints caps the endpoints tracked (default 200); the rest are
	// lumped under OtherEndpoint.
	MaxEndpoints int
	// MaxExamples caps the examples kept per endpoint (default 5).
	MaxExamples int
	// MaxPaths caps the distinct path statistics per endpoint (default 100);
	// further places are counted under the path "(other)".
	MaxPaths int
}

// RequestSummary is what a Tracker keeps of a mirrored request.
type RequestSummary struct {
	Method string
	// Path is the request path with its query.
	Path string
	Body []byte
}

// Tracker aggregates comparisons per endpoint over a verification window.
// Create one per window. It is safe for concurrent use and its memory is
// bounded by its options whatever the traffic.
type Tracker struct {
	opts TrackerOptions

	mu        sync.Mutex
	endpoints map[string]*endpointStats
	total     int
	differing int
}

type endpointStats struct {
	total, differing, ignored int
	paths                     map[pathKey]*PathStat
	examples                  []Example
}

type pathKey struct{ path, kind string }

// NewTracker returns an empty Tracker.
func NewTracker(opts TrackerOptions) *Tracker {
	if opts.MaxEndpoints <= 0 {
		opts.MaxEndpoints = 200
	}
	if opts.MaxExamples <= 0 {
		opts.MaxExamples = 5
	}
	if opts.MaxPaths <= 0 {
		opts.MaxPaths = 100
	}
	return &Tracker{opts: opts, endpoints: make(map[string]*endpointStats)}
}

// Observe compares the candidate's answer with the live one for a request of
// endpoint (as named by Endpoint; empty means derive it from req) and records
// the outcome. It returns the differences that remained after ignore paths,
// volatile values and learned noise.
func (t *Tracker) Observe(endpoint string, req RequestSummary, live, candidate Response) Result {
	if endpoint == "" {
		endpoint = Endpoint(req.Method, req.Path)
	}
	res := Diff(live, candidate, t.opts.Diff)
	kept, dropped := t.opts.Noise.Filter(endpoint, res.Differences)
	res.Differences = kept
	res.Ignored += dropped

	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.endpoints[endpoint]
	if e == nil {
		if len(t.endpoints) >= t.opts.MaxEndpoints {
			endpoint = OtherEndpoint
			e = t.endpoints[endpoint]
		}
		if e == nil {
			e = &endpointStats{paths: make(map[pathKey]*PathStat)}
			t.endpoints[endpoint] = e
		}
	}
	t.total++
	e.total++
	e.ignored += res.Ignored
	if res.Equal() {
		return res
	}
	t.differing++
	e.differing++
	counted := make(map[pathKey]bool, len(res.Differences))
	for _, d := range res.Differences {
		k := pathKey{Generalize(d.Path), d.Kind}
		if counted[k] {
			continue // count answers, not array elements
		}
		counted[k] = true
		st := e.paths[k]
		if st == nil {
			if len(e.paths) >= t.opts.MaxPaths {
				k = pathKey{"(other)", ""}
				if counted[k] {
					continue
				}
				counted[k] = true
				st = e.paths[k]
			}
			if st == nil {
				st = &PathStat{Path: k.path, Kind: k.kind, Live: d.Live, Candidate: d.Candidate}
				e.paths[k] = st
			}
		}
		st.Count++
	}
	if len(e.examples) < t.opts.MaxExamples {
		e.examples = append(e.examples, newExample(req, live, candidate, res.Differences))
	}
	return res
}

// Rate returns the share (0..1) of observed answers that differed.
func (t *Tracker) Rate() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return ratio(t.differing, t.total)
}

// Totals returns the number of observed and of differing answers.
func (t *Tracker) Totals() (total, differing int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total, t.differing
}

// Report returns per-endpoint statistics, the highest difference rate first
// (then the most answers, then by name). Each endpoint's paths come most
// frequent first. The result is a copy the caller may keep.
func (t *Tracker) Report() []EndpointReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]EndpointReport, 0, len(t.endpoints))
	for name, e := range t.endpoints {
		r := EndpointReport{
			Endpoint:  name,
			Total:     e.total,
			Differing: e.differing,
			DiffRate:  ratio(e.differing, e.total),
			Ignored:   e.ignored,
			Paths:     make([]PathStat, 0, len(e.paths)),
			Examples:  slices.Clone(e.examples),
		}
		for _, p := range e.paths {
			r.Paths = append(r.Paths, *p)
		}
		slices.SortFunc(r.Paths, func(a, b PathStat) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind))
		})
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b EndpointReport) int {
		return cmp.Or(cmp.Compare(b.DiffRate, a.DiffRate), cmp.Compare(b.Total, a.Total), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	return out
}

func ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
