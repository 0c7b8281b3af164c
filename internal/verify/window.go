package verify

import (
	"sort"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Window accumulates what one verification window showed. It is safe for
// concurrent use: mirrored exchanges and bot runs arrive from several goroutines.
type Window struct {
	mu       sync.Mutex
	requests int
	samples  int // requests in the latency sketches
	liveErr  int
	candErr  int
	live     *ddsketch.DDSketch
	cand     *ddsketch.DDSketch
	bots     map[string]*BotStat
	restarts int
	crash    string
	// warmUntil: requests received before it are not in the latency sketches.
	warmUntil time.Time
}

// NewWindow returns an empty window.
func NewWindow() *Window {
	return &Window{live: sketch(), cand: sketch(), bots: map[string]*BotStat{}}
}

// WarmUntil leaves the requests received before t out of the latency
// comparison, besides the first WarmupRequests: a process that just started is
// slower for a while (lazy loading, cold caches, a young heap), which no user of
// a warm release meets.
func (w *Window) WarmUntil(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warmUntil = t
}

func sketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.01, 2048)
	if err != nil {
		panic("verify: latency sketch: " + err.Error())
	}
	return s
}

// Answer is one side of a mirrored exchange, as the window needs it.
type Answer struct {
	Status  int // 0 when no answer came
	Err     string
	Latency time.Duration
	// At is when the router received the request (the live side's only).
	At time.Time
}

// failed reports whether the answer counts as an error: a 5xx or no answer.
func (a Answer) failed() bool { return a.Status >= 500 || a.Status == 0 || a.Err != "" }

// Exchange records one mirrored request: the live answer the user got and the
// candidate's answer to the copy.
func (w *Window) Exchange(live, candidate Answer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if live.failed() {
		w.liveErr++
	}
	if candidate.failed() {
		w.candErr++
	}
	// The first answers of a fresh process are slow for reasons a user never
	// meets (lazy loading, cold caches): latency is compared after them.
	if w.requests <= WarmupRequests || candidate.Status == 0 || live.At.Before(w.warmUntil) {
		return
	}
	w.samples++
	_ = w.live.Add(max(ms(live.Latency), 0))
	_ = w.cand.Add(max(ms(candidate.Latency), 0))
}

// WarmupRequests is how many of the first mirrored requests are left out of the
// latency comparison.
const WarmupRequests = 5

// MinLatencySamples is how many answers a latency quantile needs before its
// gate is judged: 5/(1-q), so that at least five answers lie above it — 10 for
// p50, 100 for p95, 500 for p99. With fewer, p99 is the latency of the one
// slowest answer, and a single hiccup of a busy machine would reject a release.
func MinLatencySamples(quantile string) int {
	switch quantile {
	case "p50":
		return 10
	case "p95":
		return 100
	}
	return 500
}

// BotStat is what the window saw of one bot journey on each side.
type BotStat struct {
	Scenario       string `json:"scenario"`
	LiveRuns       int    `json:"live_runs"`
	LiveFailures   int    `json:"live_failures"`
	CandidateRuns  int    `json:"candidate_runs"`
	CandidateFails int    `json:"candidate_failures"`
	// Reason is the first failure of the candidate's journey: the step and why.
	Reason string `json:"reason,omitempty"`
	// LiveReason is the first failure of the live release's journey.
	LiveReason string `json:"live_reason,omitempty"`
	// Cost is the journey's cost_of_failure, as written ("40 EUR").
	Cost string `json:"cost,omitempty"`
}

// ExpectBots names the journeys the window must see judged on the
// candidate: each is reported, with zero runs until it has some, so that a
// journey that never completed is missing data, which Judge fails, rather
// than a journey nobody knew about.
func (w *Window) ExpectBots(scenarios ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, sc := range scenarios {
		if w.bots[sc] == nil {
			w.bots[sc] = &BotStat{Scenario: sc}
		}
	}
}

// Judged reports whether a journey says something about the candidate: it has
// runs judged there, or it fails on live too (then it never will).
func (b BotStat) Judged() bool {
	return b.CandidateRuns > 0 || (b.LiveRuns > 0 && b.LiveFailures == b.LiveRuns)
}

// BotRun records one journey's outcome on the "live" or "candidate" side.
func (w *Window) BotRun(side, scenario string, passed bool, reason, cost string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.bots[scenario]
	if st == nil {
		st = &BotStat{Scenario: scenario, Cost: cost}
		w.bots[scenario] = st
	}
	if st.Cost == "" {
		st.Cost = cost
	}
	if side == "candidate" {
		st.CandidateRuns++
		if !passed {
			st.CandidateFails++
			if st.Reason == "" {
				st.Reason = reason
			}
		}
		return
	}
	st.LiveRuns++
	if !passed {
		st.LiveFailures++
		if st.LiveReason == "" {
			st.LiveReason = reason
		}
	}
}

// Restarts records how many times the candidate's processes have restarted so
// far, and how the last one ended.
func (w *Window) Restarts(n int, how string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n > w.restarts {
		w.restarts, w.crash = n, how
	}
}

// Quantiles are latencies in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Get returns the quantile named "p50", "p95" or "p99".
func (q Quantiles) Get(name string) float64 {
	switch name {
	case "p50":
		return q.P50
	case "p95":
		return q.P95
	}
	return q.P99
}

// Figures are a reading of the window.
type Figures struct {
	// Requests counts mirrored requests with both answers in.
	Requests           int     `json:"requests"`
	LiveErrors         int     `json:"live_errors"`
	CandidateErrors    int     `json:"candidate_errors"`
	LiveErrorRate      float64 `json:"live_error_rate"`
	CandidateErrorRate float64 `json:"candidate_error_rate"`
	// LatencySamples counts the requests the latency quantiles are made of.
	LatencySamples int       `json:"latency_samples"`
	Live           Quantiles `json:"live_latency_ms"`
	Candidate      Quantiles `json:"candidate_latency_ms"`
	Bots           []BotStat `json:"bots"`
	Restarts       int       `json:"restarts"`
	Crash          string    `json:"crash,omitempty"`
}

// Figures returns a reading of the window so far.
func (w *Window) Figures() Figures {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := Figures{Requests: w.requests, LiveErrors: w.liveErr, CandidateErrors: w.candErr,
		LatencySamples: w.samples, Live: quantiles(w.live), Candidate: quantiles(w.cand), Restarts: w.restarts, Crash: w.crash,
		Bots: []BotStat{}}
	if w.requests > 0 {
		f.LiveErrorRate = float64(w.liveErr) / float64(w.requests)
		f.CandidateErrorRate = float64(w.candErr) / float64(w.requests)
	}
	for _, b := range w.bots {
		f.Bots = append(f.Bots, *b)
	}
	sort.Slice(f.Bots, func(i, j int) bool { return f.Bots[i].Scenario < f.Bots[j].Scenario })
	return f
}

func quantiles(s *ddsketch.DDSketch) Quantiles {
	if s.IsEmpty() {
		return Quantiles{}
	}
	v, err := s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return Quantiles{}
	}
	return Quantiles{P50: round(v[0]), P95: round(v[1]), P99: round(v[2])}
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
