package bots

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// arrivals is a test app that answers after delay and records when each bot's
// requests arrive and how many are in flight at once.
type arrivals struct {
	delay time.Duration

	mu          sync.Mutex
	at          map[string][]time.Time
	inFlight    int
	maxInFlight int
}

func newArrivals(t *testing.T, delay time.Duration) (*arrivals, *httptest.Server) {
	a := &arrivals{delay: delay, at: map[string][]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.at[r.Header.Get("Prosper-Bot")] = append(a.at[r.Header.Get("Prosper-Bot")], time.Now())
		a.inFlight++
		a.maxInFlight = max(a.maxInFlight, a.inFlight)
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			a.inFlight--
			a.mu.Unlock()
		}()
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *arrivals) count(bot string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at[bot])
}

// runLog collects the runs a Runner reports.
type runLog struct {
	mu   sync.Mutex
	runs []Run
}

func (l *runLog) add(r Run) {
	l.mu.Lock()
	l.runs = append(l.runs, r)
	l.mu.Unlock()
}

func (l *runLog) all() []Run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Run(nil), l.runs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func scenario(name string, every time.Duration) Scenario {
	return Scenario{Name: name, Every: every, Timeout: 5 * time.Second,
		Steps: []Step{{Name: "GET /", Method: "GET", Path: "/"}}}
}

func TestRunnerPace(t *testing.T) {
	a, srv := newArrivals(t, 0)
	var log runLog
	r := NewRunner([]Scenario{scenario("fast", 100*time.Millisecond), scenario("slow", 400*time.Millisecond)},
		Target{BaseURL: srv.URL}, log.add)
	start := time.Now()
	r.Start(context.Background())

	// The first run of each bot starts at once, not one pace later.
	waitFor(t, "the first run of each bot", time.Second, func() bool { return a.count("fast") > 0 && a.count("slow") > 0 })
	a.mu.Lock()
	firstSlow := a.at["slow"][0].Sub(start)
	a.mu.Unlock()
	if firstSlow > 200*time.Millisecond {
		t.Errorf("first run of a 400ms bot came %s after Start", firstSlow)
	}

	// Count the runs over a bounded window: ~12 for "fast", ~3 for "slow".
	window := 1200 * time.Millisecond
	time.Sleep(window - time.Since(start))
	r.Stop()
	elapsed := time.Since(start)
	fast, slow := a.count("fast"), a.count("slow")
	if fast < 8 || fast > 14 {
		t.Errorf("every 100ms over %s: %d runs, want 8 to 14", elapsed, fast)
	}
	if slow < 2 || slow > 4 {
		t.Errorf("every 400ms over %s: %d runs, want 2 to 4", elapsed, slow)
	}
	runs := log.all()
	if len(runs) < fast+slow-2 || len(runs) > fast+slow {
		t.Errorf("%d runs reported for %d requests", len(runs), fast+slow)
	}
	for _, run := range runs {
		if !run.Passed {
			t.Errorf("run failed: %s", run.Reason)
		}
	}
}

func TestRunnerNoPileUp(t *testing.T) {
	a, srv := newArrivals(t, 350*time.Millisecond)
	var log runLog
	r := NewRunner([]Scenario{scenario("slow app", 100*time.Millisecond)}, Target{BaseURL: srv.URL}, log.add)
	start := time.Now()
	r.Start(context.Background())
	time.Sleep(1300 * time.Millisecond) // the window over which runs are counted
	r.Stop()
	// Runs overrun their 100ms pace: they start at about 0, 400, 800 and 1200ms,
	// one at a time, instead of thirteen piling up.
	n := a.count("slow app")
	if n < 2 || n > 5 {
		t.Errorf("%d runs over %s against a 350ms app, want 2 to 5", n, time.Since(start))
	}
	a.mu.Lock()
	maxInFlight := a.maxInFlight
	a.mu.Unlock()
	if maxInFlight != 1 {
		t.Errorf("%d runs in flight at once, want 1", maxInFlight)
	}
	for _, run := range log.all() {
		if !run.Passed {
			t.Errorf("run failed: %s", run.Reason)
		}
	}
}

func TestRunnerStop(t *testing.T) {
	a, srv := newArrivals(t, 10*time.Second)
	var log runLog
	r := NewRunner([]Scenario{scenario("stuck", time.Second)}, Target{BaseURL: srv.URL}, log.add)
	r.Start(context.Background())
	r.Start(context.Background()) // a second Start does nothing
	waitFor(t, "the first request", 2*time.Second, func() bool { return a.count("stuck") == 1 })

	start := time.Now()
	r.Stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %s with a run in flight", d)
	}
	r.Stop() // and again: nothing left to stop
	if runs := log.all(); len(runs) != 0 {
		t.Errorf("a run cut short by Stop was reported: %+v", runs)
	}
	if n := a.count("stuck"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestRunnerContextEnds(t *testing.T) {
	a, srv := newArrivals(t, 0)
	var log runLog
	r := NewRunner([]Scenario{scenario("bot", 50*time.Millisecond)}, Target{BaseURL: srv.URL}, log.add)
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	waitFor(t, "two runs", 2*time.Second, func() bool { return len(log.all()) >= 2 })
	cancel()
	done := make(chan struct{})
	go func() { r.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the runner did not end with its context")
	}
	n := a.count("bot")
	time.Sleep(150 * time.Millisecond) // three paces: no run may start after the end
	if after := a.count("bot"); after != n {
		t.Errorf("%d requests after the context ended", after-n)
	}
}

func TestStopBeforeStart(t *testing.T) {
	r := NewRunner(nil, Target{}, nil)
	done := make(chan struct{})
	go func() { r.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Stop of a runner never started blocks")
	}
}

// Pause waits for the run in flight to finish (not cut short: the app sees the
// whole journey) and no run starts until Resume; then the pace comes back.
func TestRunnerPause(t *testing.T) {
	a, srv := newArrivals(t, 200*time.Millisecond)
	var log runLog
	r := NewRunner([]Scenario{scenario("bot", 50*time.Millisecond)}, Target{BaseURL: srv.URL}, log.add)
	r.Start(context.Background())
	defer r.Stop()
	waitFor(t, "the first request", 2*time.Second, func() bool { return a.count("bot") == 1 })

	r.Pause()
	r.Pause() // pauses nest
	runs := log.all()
	if len(runs) != 1 || !runs[0].Passed {
		t.Fatalf("after Pause returned: runs %+v; want the run in flight finished and reported", runs)
	}
	n := a.count("bot")
	time.Sleep(300 * time.Millisecond) // six paces
	if got := a.count("bot"); got != n {
		t.Fatalf("%d requests while paused", got-n)
	}
	r.Resume()
	time.Sleep(150 * time.Millisecond)
	if got := a.count("bot"); got != n {
		t.Fatalf("%d requests after one Resume of two Pauses", got-n)
	}
	r.Resume()
	waitFor(t, "a run after Resume", 2*time.Second, func() bool { return a.count("bot") > n })
}
