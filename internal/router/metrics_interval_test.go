package router

import (
	"math"
	"net/http"
	"sync"
	"testing"
)

// near reports whether a quantile from the sketch is within its 1% of want.
func near(got, want float64) bool { return math.Abs(got-want) <= 0.01*want }

func TestIntervalLatencyPerInterval(t *testing.T) {
	rt := New(nil)
	m := rt.metrics.get("shop", 1)
	take := func() IntervalLatency {
		t.Helper()
		got := rt.TakeIntervalLatency()
		if len(got) != 1 || got[0].App != "shop" || got[0].Release != 1 {
			t.Fatalf("TakeIntervalLatency() = %+v, want shop v1 only", got)
		}
		return got[0]
	}

	// A fast interval, then a slow one: each interval's quantiles are its own.
	for range 100 {
		m.observe(200, 10)
	}
	m.observe(101, 60_000) // a websocket: counted, but not a latency
	fast := take()
	for range 100 {
		m.observe(200, 200)
	}
	slow := take()
	tests := []struct {
		name  string
		got   IntervalLatency
		count int64
		want  float64 // every quantile: all the interval's requests took as long
	}{
		{"fast", fast, 100, 10},
		{"slow", slow, 100, 200},
	}
	for _, tt := range tests {
		if tt.got.Count != tt.count {
			t.Errorf("%s: count %d, want %d", tt.name, tt.got.Count, tt.count)
		}
		for _, q := range []float64{tt.got.P50, tt.got.P95, tt.got.P99} {
			if !near(q, tt.want) {
				t.Errorf("%s: %+v, want every quantile %.0f ms within 1%%", tt.name, tt.got, tt.want)
				break
			}
		}
	}
	if empty := take(); empty != (IntervalLatency{App: "shop", Release: 1}) {
		t.Errorf("an interval without requests = %+v, want zeros", empty)
	}

	// The cumulative view saw both intervals, and taking did not change it.
	r := m.reading()
	if r.Requests != 201 || !near(r.P50, 10) || !near(r.P95, 200) || !near(r.P99, 200) {
		t.Errorf("cumulative reading = %+v, want 201 requests, p50 10 ms, p95 and p99 200 ms", r)
	}
	if l := m.latencyReading(); l.count != 200 || l.sum != 100*10+100*200 {
		t.Errorf("cumulative count %.0f sum %.0f, want 200 and 21000", l.count, l.sum)
	}
}

// TestIntervalLatencyConcurrent takes intervals while requests are recorded:
// every latency lands in exactly one interval.
func TestIntervalLatencyConcurrent(t *testing.T) {
	rt := New(nil)
	m := rt.metrics.get("shop", 1)
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range each {
				m.observe(200, float64(i%50+1))
			}
		})
	}
	var taken int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		for _, l := range rt.TakeIntervalLatency() {
			taken += l.Count
		}
	}
	if taken != writers*each {
		t.Fatalf("intervals counted %d requests, want %d", taken, writers*each)
	}
	if r := m.reading(); r.Requests != writers*each {
		t.Fatalf("cumulative requests = %d, want %d", r.Requests, writers*each)
	}
}

// TestIntervalLatencyThroughRouter checks that real requests reach the
// intervals, and that reading Metrics neither takes nor resets them.
func TestIntervalLatencyThroughRouter(t *testing.T) {
	ok := startBackend(t, "ok", func(w http.ResponseWriter, r *http.Request) {})
	rt, srv := startRouter(t, oneRelease("shop", 3, addrOf(ok)))
	c := newClient(t)
	for range 5 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	eventually(t, "5 requests recorded", func() bool { return totalRequests(rt) == 5 })
	before := rt.Metrics()
	got := rt.TakeIntervalLatency()
	if len(got) != 1 || got[0].Release != 3 || got[0].Count != 5 || got[0].P50 <= 0 || got[0].P95 < got[0].P50 || got[0].P99 < got[0].P95 {
		t.Fatalf("TakeIntervalLatency() = %+v, want 5 requests of shop v3 with ordered quantiles", got)
	}
	if again := rt.TakeIntervalLatency(); again[0].Count != 0 {
		t.Errorf("second take = %+v, want an empty interval", again)
	}
	if after := rt.Metrics(); after[0] != before[0] || after[0].P95 <= 0 {
		t.Errorf("Metrics after taking = %+v, want unchanged %+v with a p95", after[0], before[0])
	}
}
