package router

import (
	"sync"
	"sync/atomic"
	"time"
)

// MirrorMetrics is what the router saw of the copies it sent to one candidate
// release of one app since the router started. Copies never count in the
// ReleaseMetrics of any release: those describe what users got. Counters only
// grow; every sampled request ends in exactly one of Mirrored, Errors, Dropped or
// Skipped, except that Skipped also counts pairs given up after the copy was
// answered (see Skipped).
type MirrorMetrics struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	// Mirrored counts copies the candidate answered, whatever the status.
	Mirrored int64 `json:"mirrored"`
	// Status5xx counts the answers among Mirrored with a 5xx status.
	Status5xx int64 `json:"status_5xx"`
	// Errors counts copies the candidate did not answer in full: connection
	// refused or reset, the mirror timeout, a response broken off.
	Errors int64 `json:"errors"`
	// Dropped counts requests selected for copying that found the mirror queue
	// full: the candidates are slower than the live traffic.
	Dropped int64 `json:"dropped"`
	// Skipped counts requests selected for copying whose body was over the
	// limit, and pairs given up because the live answer outlasted the mirror
	// timeout.
	Skipped int64 `json:"skipped"`
	// P50, P90 and P99 are the candidate's latency quantiles in milliseconds,
	// from sending the copy to the end of the answer, within 1%.
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// mirrorMetrics holds the live counters of one candidate.
type mirrorMetrics struct {
	app     string
	release int

	mirrored, status5xx, errors, dropped, skipped atomic.Int64
	// latency holds every answered copy since the router started; interval
	// only those since a router replica last reported (see Reporter).
	latency, interval *latencySketch
}

// observe records one answered copy.
func (m *mirrorMetrics) observe(status int, latency time.Duration) {
	m.mirrored.Add(1)
	if status >= 500 {
		m.status5xx.Add(1)
	}
	ms := float64(latency) / float64(time.Millisecond)
	m.latency.add(ms)
	m.interval.add(ms)
}

func (m *mirrorMetrics) reading() MirrorMetrics {
	l := m.latency.reading()
	return MirrorMetrics{
		App:       m.app,
		Release:   m.release,
		Mirrored:  m.mirrored.Load(),
		Status5xx: m.status5xx.Load(),
		Errors:    m.errors.Load(),
		Dropped:   m.dropped.Load(),
		Skipped:   m.skipped.Load(),
		P50:       l.p50,
		P90:       l.p90,
		P99:       l.p99,
	}
}

// mirrorRegistry keeps the metrics of every candidate the router has been told
// about, across table changes, as metricsRegistry does for releases.
type mirrorRegistry struct {
	mu         sync.Mutex
	candidates map[releaseKey]*mirrorMetrics
}

func newMirrorRegistry() *mirrorRegistry {
	return &mirrorRegistry{candidates: make(map[releaseKey]*mirrorMetrics)}
}

// get returns the metrics of a candidate, creating them on first use. Only
// compile calls it, never the request path.
func (r *mirrorRegistry) get(app string, release int) *mirrorMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := releaseKey{app, release}
	m := r.candidates[k]
	if m == nil {
		m = &mirrorMetrics{app: app, release: release, latency: newLatencySketch(), interval: newLatencySketch()}
		r.candidates[k] = m
	}
	return m
}

// all returns the metrics sorted by app, then release.
func (r *mirrorRegistry) all() []*mirrorMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sortedByRelease(r.candidates)
}

// MirrorMetrics returns a reading of every candidate the router has mirrored to
// or been configured to mirror to, sorted by app, then release.
func (rt *Router) MirrorMetrics() []MirrorMetrics {
	all := rt.mirrorMetrics.all()
	out := make([]MirrorMetrics, len(all))
	for i, m := range all {
		out[i] = m.reading()
	}
	return out
}
