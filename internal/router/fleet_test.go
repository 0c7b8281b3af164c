package router

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the fleet's silence and forget limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// replicaRouter is a router replica serving app "shop" v1 from backend, with
// its reporter.
func replicaRouter(t *testing.T, name, backend string) (*Reporter, func(n int)) {
	t.Helper()
	rt, srv := startRouter(t, oneRelease("shop", 1, backend))
	c := newClient(t)
	traffic := func(n int) {
		before := totalRequests(rt)
		for range n {
			mustGet(t, c, srv.URL, "shop.localhost")
		}
		eventually(t, "requests recorded", func() bool { return totalRequests(rt) == before+int64(n) })
	}
	return NewReporter(rt, name), traffic
}

func TestFleetSumsReplicasWithTheLocalRouter(t *testing.T) {
	fast := startBackend(t, "fast", nil)
	slow := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(40 * time.Millisecond) })
	local, localSrv := startRouter(t, oneRelease("shop", 1, addrOf(fast)))
	f := NewFleet(local, FleetConfig{})
	c := newClient(t)
	for range 4 {
		mustGet(t, c, localSrv.URL, "shop.localhost")
	}
	eventually(t, "local requests", func() bool { return totalRequests(local) == 4 })

	a, trafficA := replicaRouter(t, "a", addrOf(fast))
	b, trafficB := replicaRouter(t, "b", addrOf(slow))
	trafficA(3)
	trafficB(5)
	for _, r := range []*Reporter{a, b} {
		if err := f.Apply(r.Next(false, 0, time.Now())); err != nil {
			t.Fatal(err)
		}
	}

	m := f.Metrics()
	if len(m) != 1 || m[0].Requests != 12 || m[0].Status2xx != 12 {
		t.Fatalf("merged metrics = %+v; want 12 requests of shop v1 (4 local, 3 + 5 replicas)", m)
	}
	// 5 of 12 took 40 ms or more: the p90 is the slow replica's, the p50 the
	// fast routers'.
	if m[0].P90 < 39 || m[0].P50 >= 39 {
		t.Errorf("merged quantiles p50 %.1f, p90 %.1f; want p50 < 39 ms <= p90", m[0].P50, m[0].P90)
	}
	il := f.TakeIntervalLatency()
	if len(il) != 1 || il[0].Count != 12 || il[0].P95 < 39 {
		t.Errorf("interval latency = %+v; want 12 requests, p95 >= 39 ms", il)
	}
	if il := f.TakeIntervalLatency(); len(il) != 1 || il[0].Count != 0 {
		t.Errorf("second interval = %+v; want empty", il)
	}
	// The totals keep the latencies the intervals took.
	if m := f.Metrics(); m[0].P90 < 39 {
		t.Errorf("p90 after the intervals were taken = %.1f; want >= 39", m[0].P90)
	}

	var prom strings.Builder
	if err := f.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`prosper_router_requests_total{app="shop",release="1",code_class="2xx"} 12` + "\n",
		`prosper_router_request_duration_seconds_count{app="shop",release="1"} 12` + "\n",
	} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("prometheus output lacks %q:\n%s", want, prom.String())
		}
	}

	// A report applied twice (redelivered) counts once.
	trafficA(2)
	rep := a.Next(false, 0, time.Now())
	for range 2 {
		if err := f.Apply(rep); err != nil {
			t.Fatal(err)
		}
	}
	if m := f.Metrics(); m[0].Requests != 14 {
		t.Errorf("after a redelivered report: %d requests; want 14", m[0].Requests)
	}
}

func TestFleetWithoutReplicasIsTheLocalRouter(t *testing.T) {
	ok := startBackend(t, "ok", nil)
	local, srv := startRouter(t, oneRelease("shop", 1, addrOf(ok)))
	c := newClient(t)
	for range 3 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	eventually(t, "requests", func() bool { return totalRequests(local) == 3 })
	f := NewFleet(local, FleetConfig{})
	want, got := local.Metrics(), f.Metrics()
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("fleet metrics = %+v; want the router's %+v", got, want)
	}
	var a, b strings.Builder
	_ = local.WritePrometheus(&a)
	_ = f.WritePrometheus(&b)
	if a.String() != b.String() {
		t.Errorf("fleet prometheus differs from the router's:\n%s\n---\n%s", b.String(), a.String())
	}
	if w := f.Window(time.Time{}); !w.Complete || len(w.Missing) != 0 {
		t.Errorf("window = %+v; want complete", w)
	}
}

// report is a bare report of replica name, run boot.
func report(name, boot string, seq uint64) Report {
	return Report{Replica: name, Boot: boot, Seq: seq, Releases: []ReleaseDelta{{App: "shop", Release: 1, Requests: 1, Status2xx: 1}}}
}

func TestFleetCompleteness(t *testing.T) {
	type step struct {
		advance time.Duration
		report  *Report
	}
	r := func(name, boot string, seq uint64) *Report { rep := report(name, boot, seq); return &rep }
	bye := func(name, boot string, seq uint64) *Report {
		rep := report(name, boot, seq)
		rep.Goodbye = true
		return &rep
	}
	tests := []struct {
		name  string
		steps []step
		// sinceAgo is the start of the window read at the end, before now.
		sinceAgo     time.Duration
		wantComplete bool
		wantReason   string // part of the first missing reason
		wantState    string // the state of replica "a", "" when forgotten
	}{
		{"reporting every second", []step{{0, r("a", "1", 1)}, {time.Second, r("a", "1", 2)}, {time.Second, r("a", "1", 3)}},
			10 * time.Second, true, "", ReplicaReporting},
		{"a report lost", []step{{0, r("a", "1", 1)}, {time.Second, r("a", "1", 2)}, {2 * time.Second, r("a", "1", 4)}},
			10 * time.Second, false, "1 report(s) lost (sequence 3 to 3)", ReplicaReporting},
		{"a window after the gap", []step{{0, r("a", "1", 1)}, {2 * time.Second, r("a", "1", 3)}, {5 * time.Second, r("a", "1", 4)}},
			4 * time.Second, true, "", ReplicaReporting},
		{"silent for 2 s", []step{{0, r("a", "1", 1)}, {2 * time.Second, nil}},
			10 * time.Second, true, "", ReplicaReporting},
		{"silent for 4 s", []step{{0, r("a", "1", 1)}, {4 * time.Second, nil}},
			10 * time.Second, false, "no report for 4s and no goodbye", ReplicaMissing},
		{"back after a silence, nothing lost", []step{{0, r("a", "1", 1)}, {5 * time.Second, r("a", "1", 2)}},
			10 * time.Second, true, "", ReplicaReporting},
		{"goodbye then silence", []step{{0, r("a", "1", 1)}, {time.Second, bye("a", "1", 2)}, {10 * time.Second, nil}},
			30 * time.Second, true, "", ReplicaLeft},
		{"goodbye then forgotten", []step{{0, bye("a", "1", 1)}, {2 * time.Minute, nil}},
			10 * time.Minute, true, "", ""},
		{"vanished, window overlaps", []step{{0, r("a", "1", 1)}, {2 * time.Minute, nil}},
			10 * time.Minute, false, "stopped reporting without a goodbye", ""},
		{"vanished, window after it was forgotten", []step{{0, r("a", "1", 1)}, {2 * time.Minute, nil}, {time.Second, nil}},
			time.Second / 2, true, "", ""},
		{"restarted without a goodbye", []step{{0, r("a", "1", 1)}, {time.Second, r("a", "2", 1)}},
			10 * time.Second, false, "restarted without a goodbye", ReplicaReporting},
		{"restarted after a goodbye", []step{{0, bye("a", "1", 1)}, {time.Second, r("a", "2", 1)}},
			10 * time.Second, true, "", ReplicaReporting},
		{"first seen mid-run", []step{{0, r("a", "1", 41)}, {time.Second, r("a", "1", 42)}},
			10 * time.Second, true, "", ReplicaReporting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			f := NewFleet(New(nil), FleetConfig{Now: clk.now})
			applied := int64(0)
			for _, s := range tt.steps {
				clk.advance(s.advance)
				if s.report != nil {
					if err := f.Apply(*s.report); err != nil {
						t.Fatal(err)
					}
					applied++
				}
			}
			w := f.Window(clk.now().Add(-tt.sinceAgo))
			if w.Complete != tt.wantComplete {
				t.Errorf("complete = %v; want %v (missing %+v)", w.Complete, tt.wantComplete, w.Missing)
			}
			if tt.wantReason != "" && (len(w.Missing) == 0 || !strings.Contains(w.Missing[0].Reason, tt.wantReason) || w.Missing[0].Replica != "a") {
				t.Errorf("missing = %+v; want replica a: %q", w.Missing, tt.wantReason)
			}
			if len(w.Releases) != 1 || w.Releases[0].Requests != applied {
				t.Errorf("releases = %+v; want the %d requests of the reports applied", w.Releases, applied)
			}
			state := ""
			for _, st := range f.Replicas() {
				if st.Name == "a" {
					state = st.State
				}
			}
			if state != tt.wantState {
				t.Errorf("state of a = %q; want %q (%+v)", state, tt.wantState, f.Replicas())
			}
		})
	}
}

func TestFleetInFlight(t *testing.T) {
	clk := newClock()
	f := NewFleet(New(nil), FleetConfig{Now: clk.now})
	held := func(name string, n int64, rev uint64, goodbye bool, seq uint64) Report {
		return Report{Replica: name, Boot: name, Seq: seq, TableRevision: rev, Goodbye: goodbye,
			Releases: []ReleaseDelta{{App: "shop", Release: 1, InFlight: n}}}
	}
	f.SetTableRevision(5)
	_ = f.Apply(held("a", 2, 5, false, 1))
	_ = f.Apply(held("b", 1, 5, false, 1))
	if n := f.InFlight("shop", 1); n != 3 {
		t.Errorf("in flight = %d; want 3 (2 on a, 1 on b)", n)
	}
	if n := f.InFlight("shop", 2); n != 0 {
		t.Errorf("in flight of v2 = %d; want 0", n)
	}
	// A new table: until the replicas report it, each may still send to v1.
	f.TableChanging()
	if n := f.InFlight("shop", 2); n != 2 {
		t.Errorf("in flight of v2 while the table changes = %d; want 2 (both replicas behind)", n)
	}
	f.SetTableRevision(6)
	_ = f.Apply(held("a", 0, 6, false, 2))
	if n := f.InFlight("shop", 1); n != 2 {
		t.Errorf("in flight = %d; want 2 (b: 1 held + behind the table)", n)
	}
	_ = f.Apply(held("b", 1, 6, true, 2)) // goodbye
	if n := f.InFlight("shop", 1); n != 0 {
		t.Errorf("in flight after b said goodbye = %d; want 0", n)
	}
	// A replica killed with requests in flight counts them until forgotten.
	_ = f.Apply(held("c", 1, 6, false, 1))
	clk.advance(30 * time.Second)
	if n := f.InFlight("shop", 1); n != 1 {
		t.Errorf("in flight of a silent replica = %d; want its last 1", n)
	}
	clk.advance(time.Minute)
	if n := f.InFlight("shop", 1); n != 0 {
		t.Errorf("in flight after it was forgotten = %d; want 0", n)
	}
}

func TestFleetExchanges(t *testing.T) {
	clk := newClock()
	f := NewFleet(New(nil), FleetConfig{Now: clk.now})
	start := clk.now()
	_ = f.Apply(report("a", "1", 1))
	ex := func(seq uint64, app string) ReplicaExchange {
		return ReplicaExchange{Replica: "a", Boot: "1", Seq: seq, Exchange: Exchange{App: app}}
	}
	for _, tt := range []struct {
		ex      ReplicaExchange
		deliver bool
	}{
		{ex(1, "shop"), true}, {ex(2, "shop"), true}, {ex(2, "shop"), false}, {ex(1, "blog"), true},
	} {
		if got := f.ApplyExchange(tt.ex); got != tt.deliver {
			t.Errorf("exchange %d of %s: deliver %v; want %v", tt.ex.Seq, tt.ex.Exchange.App, got, tt.deliver)
		}
	}
	if l := f.MirrorLosses("shop", start); len(l) != 0 {
		t.Fatalf("losses = %+v; want none", l)
	}
	clk.advance(time.Second)
	mid := clk.now()
	f.ApplyExchange(ex(5, "shop")) // 3 and 4 lost
	l := f.MirrorLosses("shop", start)
	if len(l) != 1 || l[0].Replica != "a" || !strings.Contains(l[0].Reason, "2 mirrored exchange(s) of shop lost") {
		t.Errorf("losses = %+v; want 2 of shop from a", l)
	}
	if l := f.MirrorLosses("blog", start); len(l) != 0 {
		t.Errorf("losses of blog = %+v; want none", l)
	}
	clk.advance(time.Second)
	if l := f.MirrorLosses("shop", clk.now()); len(l) != 0 {
		t.Errorf("losses since after the gap = %+v; want none", l)
	}
	// Exchanges the replica gave up before sending come in its report.
	rep := report("a", "1", 2)
	rep.ExchangesLost = map[string]int64{"blog": 3}
	_ = f.Apply(rep)
	if l := f.MirrorLosses("blog", mid); len(l) != 1 || !strings.Contains(l[0].Reason, "3 mirrored exchange(s) of blog lost") {
		t.Errorf("losses of blog = %+v; want 3", l)
	}
	// A silent replica may have lost exchanges too.
	clk.advance(5 * time.Second)
	if l := f.MirrorLosses("blog", clk.now().Add(-time.Second)); len(l) != 1 || !strings.Contains(l[0].Reason, "no report") {
		t.Errorf("losses of a silent replica = %+v; want it missing", l)
	}
}
