package router

// releaseTotals is a consistent copy of one release's counters and latency
// sketch. The router's own registry and the fleet of router replicas both
// produce them, so that summing the two and writing them out (Metrics,
// Prometheus) is one code path.
type releaseTotals struct {
	app     string
	release int

	requests, status1xx, status2xx, status3xx, status4xx, status5xx int64
	proxyErrors, inFlight                                           int64
	latency                                                         *latencySketch // private copy
}

// totals copies the release's counters and its latency since the router started.
func (m *releaseMetrics) totals() releaseTotals {
	return releaseTotals{
		app: m.app, release: m.release,
		requests: m.requests.Load(), status1xx: m.status1xx.Load(), status2xx: m.status2xx.Load(),
		status3xx: m.status3xx.Load(), status4xx: m.status4xx.Load(), status5xx: m.status5xx.Load(),
		proxyErrors: m.proxyErrors.Load(), inFlight: m.inFlight.Load(),
		latency: m.latency.clone(),
	}
}

// add sums o's counters and latencies into t; o's in-flight gauge is added too.
func (t *releaseTotals) add(o releaseTotals) {
	t.requests += o.requests
	t.status1xx += o.status1xx
	t.status2xx += o.status2xx
	t.status3xx += o.status3xx
	t.status4xx += o.status4xx
	t.status5xx += o.status5xx
	t.proxyErrors += o.proxyErrors
	t.inFlight += o.inFlight
	if o.latency != nil {
		if t.latency == nil {
			t.latency = newLatencySketch()
		}
		t.latency.merge(o.latency)
	}
}

func (t releaseTotals) reading() ReleaseMetrics {
	var l latencySnapshot
	if t.latency != nil {
		l = t.latency.reading()
	}
	return ReleaseMetrics{
		App: t.app, Release: t.release,
		Requests: t.requests, Status2xx: t.status2xx, Status3xx: t.status3xx,
		Status4xx: t.status4xx, Status5xx: t.status5xx,
		ProxyErrors: t.proxyErrors, InFlight: t.inFlight,
		P50: l.p50, P90: l.p90, P95: l.p95, P99: l.p99,
	}
}

// mirrorTotals is to mirrorMetrics what releaseTotals is to releaseMetrics.
type mirrorTotals struct {
	app     string
	release int

	mirrored, status5xx, errors, dropped, skipped int64
	latency                                       *latencySketch
}

func (m *mirrorMetrics) totals() mirrorTotals {
	return mirrorTotals{
		app: m.app, release: m.release,
		mirrored: m.mirrored.Load(), status5xx: m.status5xx.Load(), errors: m.errors.Load(),
		dropped: m.dropped.Load(), skipped: m.skipped.Load(),
		latency: m.latency.clone(),
	}
}

func (t *mirrorTotals) add(o mirrorTotals) {
	t.mirrored += o.mirrored
	t.status5xx += o.status5xx
	t.errors += o.errors
	t.dropped += o.dropped
	t.skipped += o.skipped
	if o.latency != nil {
		if t.latency == nil {
			t.latency = newLatencySketch()
		}
		t.latency.merge(o.latency)
	}
}

func (t mirrorTotals) reading() MirrorMetrics {
	var l latencySnapshot
	if t.latency != nil {
		l = t.latency.reading()
	}
	return MirrorMetrics{
		App: t.app, Release: t.release,
		Mirrored: t.mirrored, Status5xx: t.status5xx, Errors: t.errors,
		Dropped: t.dropped, Skipped: t.skipped,
		P50: l.p50, P90: l.p90, P99: l.p99,
	}
}

// clone returns a copy of the sketch that shares nothing with it.
func (l *latencySketch) clone() *latencySketch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &latencySketch{sketch: l.sketch.Copy(), sum: l.sum}
}

// merge adds o's latencies to l. o must not be l.
func (l *latencySketch) merge(o *latencySketch) {
	o.mu.Lock()
	other, sum := o.sketch.Copy(), o.sum
	o.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	// MergeWith fails only on sketches of different accuracies; every sketch
	// of the router is made by newLatencySketch.
	_ = l.sketch.MergeWith(other)
	l.sum += sum
}

// takeEncoded returns the latencies since the previous take, encoded for a
// report, with their exact sum, and empties the sketch in the same step. It
// returns nil when there were none.
func (l *latencySketch) takeEncoded() ([]byte, float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sketch.IsEmpty() {
		return nil, 0
	}
	var b []byte
	l.sketch.Encode(&b, false)
	sum := l.sum
	l.sketch.Clear()
	l.sum = 0
	return b, sum
}

// takeInto moves the latencies of l into dst and empties l, in one step.
func (l *latencySketch) takeInto(dst *latencySketch) {
	l.mu.Lock()
	other, sum := l.sketch.Copy(), l.sum
	l.sketch.Clear()
	l.sum = 0
	l.mu.Unlock()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	_ = dst.sketch.MergeWith(other)
	dst.sum += sum
}

// decodeLatency reads a sketch encoded by takeEncoded.
func decodeLatency(b []byte, sum float64) (*latencySketch, error) {
	l := newLatencySketch()
	if err := l.sketch.DecodeAndMergeWith(b); err != nil {
		return nil, err
	}
	l.sum = sum
	return l, nil
}
