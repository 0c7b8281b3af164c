package router

// IntervalLatency is the latency of one release's requests over one interval:
// those that finished since the previous TakeIntervalLatency. The metrics
// history reads it every step, so that a step's quantiles are that step's, not
// the blend since the router started that ReleaseMetrics gives.
type IntervalLatency struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	// Count is the number of requests in the quantiles; protocol upgrades are
	// not among them. The quantiles are 0 when it is 0.
	Count int64 `json:"count"`
	// P50, P95 and P99 are latency quantiles in milliseconds, within 1%.
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// TakeIntervalLatency returns the latency quantiles of every release since the
// previous call (or since the router started), sorted by app, then release, and
// starts a new interval. Each release is read and emptied atomically, so every
// request is in exactly one interval.
//
// Taking resets, so there must be one taker: the control plane's metrics
// history. Everyone else reads Metrics, which the intervals do not affect.
func (rt *Router) TakeIntervalLatency() []IntervalLatency {
	all := rt.metrics.all()
	out := make([]IntervalLatency, len(all))
	for i, m := range all {
		l := m.interval.take()
		out[i] = IntervalLatency{
			App:     m.app,
			Release: m.release,
			Count:   int64(l.count),
			P50:     l.p50,
			P95:     l.p95,
			P99:     l.p99,
		}
	}
	return out
}
