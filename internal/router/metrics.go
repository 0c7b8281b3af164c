package router

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/DataDog/sketches-go/ddsketch"
)

// ReleaseMetrics is what the router saw of one release of one app since the router
// started. Counters only grow, so a reader computes rates from two readings.
type ReleaseMetrics struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	// Requests counts completed requests answered on behalf of this release,
	// including the 502s the router wrote when the release did not answer.
	// Protocol upgrades (101) count here but in no status class.
	Requests  int64 `json:"requests"`
	Status2xx int64 `json:"status_2xx"`
	Status3xx int64 `json:"status_3xx"`
	Status4xx int64 `json:"status_4xx"`
	Status5xx int64 `json:"status_5xx"`
	// ProxyErrors counts failures to reach the release or to read its whole
	// response, including a refused connection that was then retried elsewhere.
	ProxyErrors int64 `json:"proxy_errors"`
	// InFlight is the number of requests being served by the release right now.
	InFlight int64 `json:"in_flight"`
	// P50, P90, P95 and P99 are latency quantiles in milliseconds since the
	// router started, from the router receiving the request to the end of the
	// response, within 1%.
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// latencyAccuracy is the relative accuracy of the quantiles, and latencyBins bounds
// a sketch's memory; past it the lowest latencies are merged, which only blurs the
// quantiles nobody gates on.
const (
	latencyAccuracy = 0.01
	latencyBins     = 2048
)

// releaseMetrics holds the live counters of one release. The request path updates
// them with atomics; only the latency sketches take a mutex.
type releaseMetrics struct {
	app     string
	release int

	requests, status1xx, status2xx, status3xx, status4xx, status5xx atomic.Int64
	proxyErrors, inFlight                                           atomic.Int64

	// latency holds every request since the router started, for the metrics
	// endpoint and Prometheus; interval only those since the metrics history
	// last took it (see TakeIntervalLatency), as sketches cannot be subtracted.
	latency, interval *latencySketch
}

func newReleaseMetrics(app string, release int) *releaseMetrics {
	return &releaseMetrics{app: app, release: release, latency: newLatencySketch(), interval: newLatencySketch()}
}

// latencySketch records latencies in milliseconds. The sketch is not safe for
// concurrent use, hence the mutex.
type latencySketch struct {
	mu     sync.Mutex
	sketch *ddsketch.DDSketch
	sum    float64 // exact, for the Prometheus summary
}

func newLatencySketch() *latencySketch {
	sketch, err := ddsketch.LogCollapsingLowestDenseDDSketch(latencyAccuracy, latencyBins)
	if err != nil {
		// Only an accuracy outside (0, 1) fails, and the accuracy is a constant.
		panic("router: latency sketch: " + err.Error())
	}
	return &latencySketch{sketch: sketch}
}

func (l *latencySketch) add(millis float64) {
	l.mu.Lock()
	// Add fails only on values the sketch cannot index (negative or huge); a
	// latency is neither, so the error carries no information here.
	_ = l.sketch.Add(max(millis, 0))
	l.sum += max(millis, 0)
	l.mu.Unlock()
}

func (l *latencySketch) reading() latencySnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readLocked()
}

// take returns the reading and empties the sketch, in one step so that no
// latency is lost or counted twice between the two.
func (l *latencySketch) take() latencySnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.readLocked()
	l.sketch.Clear() // keeps the bins' memory for the next interval
	l.sum = 0
	return s
}

func (l *latencySketch) readLocked() latencySnapshot {
	s := latencySnapshot{count: l.sketch.GetCount(), sum: l.sum}
	if s.count == 0 {
		return s
	}
	q, err := l.sketch.GetValuesAtQuantiles([]float64{0.5, 0.9, 0.95, 0.99})
	if err == nil {
		s.p50, s.p90, s.p95, s.p99 = q[0], q[1], q[2], q[3]
	}
	return s
}

// observe records one finished request.
func (m *releaseMetrics) observe(status int, millis float64) {
	m.requests.Add(1)
	switch {
	case status >= 500:
		m.status5xx.Add(1)
	case status >= 400:
		m.status4xx.Add(1)
	case status >= 300:
		m.status3xx.Add(1)
	case status >= 200:
		m.status2xx.Add(1)
	default:
		m.status1xx.Add(1)
	}
	if status < 200 {
		// A protocol upgrade lasts as long as its connection; counted as a
		// latency, one websocket would set the p99.
		return
	}
	m.latency.add(millis)
	m.interval.add(millis)
}

// latencySnapshot is a consistent reading of the latency sketch.
type latencySnapshot struct {
	p50, p90, p95, p99 float64 // milliseconds
	count              float64
	sum                float64 // milliseconds
}

func (m *releaseMetrics) latencyReading() latencySnapshot {
	return m.latency.reading()
}

func (m *releaseMetrics) reading() ReleaseMetrics {
	l := m.latencyReading()
	return ReleaseMetrics{
		App:         m.app,
		Release:     m.release,
		Requests:    m.requests.Load(),
		Status2xx:   m.status2xx.Load(),
		Status3xx:   m.status3xx.Load(),
		Status4xx:   m.status4xx.Load(),
		Status5xx:   m.status5xx.Load(),
		ProxyErrors: m.proxyErrors.Load(),
		InFlight:    m.inFlight.Load(),
		P50:         l.p50,
		P90:         l.p90,
		P95:         l.p95,
		P99:         l.p99,
	}
}

type releaseKey struct {
	app     string
	release int
}

// metricsRegistry keeps the metrics of every release the router has been told
// about. A release stays after it leaves the table, so the control plane can still
// read the final numbers of a release it just replaced.
type metricsRegistry struct {
	mu       sync.RWMutex
	releases map[releaseKey]*releaseMetrics
}

func newMetricsRegistry() *metricsRegistry {
	return &metricsRegistry{releases: make(map[releaseKey]*releaseMetrics)}
}

// get returns the metrics of a release, creating them on first use.
func (r *metricsRegistry) get(app string, release int) *releaseMetrics {
	k := releaseKey{app, release}
	r.mu.RLock()
	m := r.releases[k]
	r.mu.RUnlock()
	if m != nil {
		return m
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m = r.releases[k]; m == nil {
		m = newReleaseMetrics(app, release)
		r.releases[k] = m
	}
	return m
}

func (r *metricsRegistry) lookup(app string, release int) *releaseMetrics {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.releases[releaseKey{app, release}]
}

// all returns the metrics sorted by app, then release.
func (r *metricsRegistry) all() []*releaseMetrics {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedByRelease(r.releases)
}

// sortedByRelease returns the values of m sorted by app, then release.
func sortedByRelease[M any](m map[releaseKey]M) []M {
	keys := make([]releaseKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b releaseKey) int {
		return cmp.Or(cmp.Compare(a.app, b.app), cmp.Compare(a.release, b.release))
	})
	out := make([]M, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// Metrics returns a reading of every release the router has routed to or been
// configured with, sorted by app, then release.
func (rt *Router) Metrics() []ReleaseMetrics {
	all := rt.metrics.all()
	out := make([]ReleaseMetrics, len(all))
	for i, m := range all {
		out[i] = m.reading()
	}
	return out
}

// InFlight returns the number of requests the release is serving right now. The
// control plane waits for it to reach 0 before stopping a release it switched away
// from, so no request is cut off.
func (rt *Router) InFlight(app string, release int) int64 {
	if m := rt.metrics.lookup(app, release); m != nil {
		return m.inFlight.Load()
	}
	return 0
}
