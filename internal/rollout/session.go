package rollout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prosperhq/prosper/internal/bots"
	"github.com/prosperhq/prosper/internal/compare"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// Verification commands a person can send to a verification in progress.
const (
	VerifyPause   = "pause"
	VerifyResume  = "resume"
	VerifyPromote = "promote"
	VerifyAbort   = "abort"
)

// session is one verification in progress: a candidate release receiving copies
// of live traffic and bot journeys, compared with the live release.
type session struct {
	app       string
	live      store.Release
	candidate store.Release
	started   time.Time
	window    time.Duration
	minReqs   int
	gates     verify.Gates
	percent   float64

	figures     *verify.Window
	tracker     *compare.Tracker
	noise       *compare.Noise
	diffOptions compare.Options
	overlaps    overlaps // differing reads served beside a write

	// control is the base URL of a second instance of the live release on its
	// own copy of the data: its answers to the same requests teach the noise.
	control string
	host    string
	client  *http.Client

	scenarios map[string]bots.Scenario
	// expect are the endpoints the release changes on purpose
	// (Prosper-Expect-Change trailers, deploy --expect-change).
	expect    []string
	journeyMu sync.Mutex
	journeys  map[string]*journey

	commands chan string
	dropped  atomic.Int64 // exchanges the control plane could not keep up with
	unjudged atomic.Int64 // bot journeys whose candidate answers never all came

	mu       sync.Mutex
	paused   bool
	pausedAt time.Time
	idle     time.Duration // time spent paused, not counted in the window
	botRuns  []store.BotRun
}

// journey follows one bot run on the candidate's side: the live run's requests
// were mirrored and each step is checked against the candidate's answer.
type journey struct {
	scenario string
	created  time.Time
	checks   map[int]string // step index → "" passed, or why it failed
	live     *bots.Run      // set when the live run has ended
}

func newSession(app string, live, cand store.Release, gates verify.Gates, window time.Duration, minReqs int, percent float64, ignore compare.Ignore) *session {
	noise := compare.NewNoise(compare.NoiseOptions{})
	diff := compare.Options{Ignore: ignore, IgnoreVolatile: true}
	return &session{
		diffOptions: diff,
		app:         app, live: live, candidate: cand, started: time.Now(), window: window, minReqs: minReqs,
		gates: gates, percent: percent, figures: verify.NewWindow(), noise: noise,
		tracker:   compare.NewTracker(compare.TrackerOptions{Diff: diff, Noise: noise}),
		client:    &http.Client{Timeout: 10 * time.Second},
		scenarios: map[string]bots.Scenario{},
		journeys:  map[string]*journey{},
		commands:  make(chan string, 4),
	}
}

// elapsed is the verification time so far, without the time spent paused.
func (s *session) elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	idle := s.idle
	if s.paused {
		idle += time.Since(s.pausedAt)
	}
	return time.Since(s.started) - idle
}

// startClock starts the verification window now: once the candidate runs and
// mirroring and the bots have begun, so that a candidate slow to start (a pod
// scheduled, its image pulled) does not eat into the window the gates judge.
func (s *session) startClock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = time.Now()
}

func (s *session) setPaused(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case p && !s.paused:
		s.paused, s.pausedAt = true, time.Now()
	case !p && s.paused:
		s.paused = false
		s.idle += time.Since(s.pausedAt)
	}
}

func (s *session) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// exchange compares one mirrored request: the live answer against a second
// live answer from the control instance (noise), then against the candidate's.
func (s *session) exchange(ctx context.Context, ex router.Exchange) {
	req := compare.RequestSummary{Method: ex.Request.Method, Path: ex.Request.Path, Body: ex.Request.Body}
	endpoint := compare.Endpoint(req.Method, req.Path)
	live, cand := response(ex.Live), response(ex.Candidate)
	if s.control != "" {
		if ctrl, ok := s.replay(ctx, ex.Request); ok {
			s.noise.ObserveLivePair(endpoint, live, ctrl)
		}
	}
	served := interval{from: ex.Time, to: ex.Time.Add(ex.Live.Latency)}
	switch {
	case !isRead(req.Method):
		s.overlaps.write(served)
		s.tracker.Observe(endpoint, req, live, cand)
	case s.differs(endpoint, live, cand):
		s.overlaps.hold(heldRead{endpoint: endpoint, req: req, live: live, cand: cand, served: served, arrived: time.Now()})
	default:
		s.tracker.Observe(endpoint, req, live, cand)
	}
	s.settleReads(false)
	liveAnswer := toAnswer(ex.Live)
	liveAnswer.At = ex.Time
	s.figures.Exchange(liveAnswer, toAnswer(ex.Candidate))
	if step := ex.Request.Header.Get(router.BotStepHeader); step != "" {
		s.botStep(step, ex)
	}
}

// differs reports whether the candidate's answer differs from live's once the
// ignore paths, volatile values and learned noise are left out.
func (s *session) differs(endpoint string, live, cand compare.Response) bool {
	kept, _ := s.noise.Filter(endpoint, compare.Diff(live, cand, s.diffOptions).Differences)
	return len(kept) > 0
}

// settleReads counts the held reads that are due (all of them with all set).
func (s *session) settleReads(all bool) {
	for _, r := range s.overlaps.settle(time.Now(), all) {
		s.tracker.Observe(r.endpoint, r.req, r.live, r.cand)
	}
}

// replay sends a copy of the request to the control instance.
func (s *session) replay(ctx context.Context, r router.CapturedRequest) (compare.Response, bool) {
	req, err := http.NewRequestWithContext(ctx, r.Method, s.control+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return compare.Response{}, false
	}
	for k, vs := range r.Header {
		if k == router.BotStepHeader {
			continue
		}
		req.Header[k] = vs
	}
	req.Header.Set(router.MirrorHeader, "1")
	req.Host = s.host
	resp, err := s.client.Do(req)
	if err != nil {
		return compare.Response{Err: err.Error()}, true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, router.DefaultMirrorMaxBodyBytes+1))
	if err != nil {
		return compare.Response{Status: resp.StatusCode, Header: resp.Header, Err: err.Error()}, true
	}
	truncated := len(body) > router.DefaultMirrorMaxBodyBytes
	if truncated {
		body = body[:router.DefaultMirrorMaxBodyBytes]
	}
	return compare.Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Truncated: truncated}, true
}

func response(c router.CapturedResponse) compare.Response {
	return compare.Response{Status: c.Status, Header: c.Header, Body: c.Body, Truncated: c.Truncated, Err: c.Err}
}

func toAnswer(c router.CapturedResponse) verify.Answer {
	return verify.Answer{Status: c.Status, Err: c.Err, Latency: c.Latency}
}

// botStep checks a mirrored bot request's candidate answer against the step's
// expectations.
func (s *session) botStep(header string, ex router.Exchange) {
	runID, idx, ok := bots.ParseStepHeader(header)
	if !ok {
		return
	}
	name := ex.Request.Header.Get("Prosper-Bot")
	sc, ok := s.scenarios[name]
	if !ok || idx < 0 || idx >= len(sc.Steps) {
		return
	}
	step := sc.Steps[idx]
	var reason string
	if ex.Candidate.Err != "" || ex.Candidate.Status == 0 {
		reason = "the candidate did not answer: " + orText(ex.Candidate.Err, "no response")
	} else {
		reason, _ = bots.Check(step, ex.Candidate.Status, ex.Candidate.Body, ex.Candidate.Latency)
	}
	if reason != "" {
		reason = fmt.Sprintf("step %d %q (%s %s): %s", idx+1, step.Name, ex.Request.Method, ex.Request.Path, reason)
	}
	s.journeyMu.Lock()
	j := s.journeyFor(runID, name)
	j.checks[idx] = reason
	s.journeyMu.Unlock()
	s.settle(runID)
}

func (s *session) journeyFor(runID, scenario string) *journey {
	j := s.journeys[runID]
	if j == nil {
		j = &journey{scenario: scenario, created: time.Now(), checks: map[int]string{}}
		s.journeys[runID] = j
	}
	return j
}

// liveRun records a bot run against the live release (through the router).
func (s *session) liveRun(run bots.Run) {
	s.figures.BotRun("live", run.Scenario, run.Passed, run.Reason, run.Cost.String())
	failed, name := -1, ""
	if !run.Passed {
		failed = run.FailedStep
		if failed >= 0 && failed < len(run.Steps) {
			name = run.Steps[failed].Name
		}
	}
	s.record(run, "live", s.live.Version, failed, name, run.Reason)
	s.journeyMu.Lock()
	j := s.journeyFor(run.ID, run.Scenario)
	j.live = &run
	s.journeyMu.Unlock()
	s.settle(run.ID)
}

// settle judges the candidate's side of a journey once the candidate has
// answered every step the live run made.
func (s *session) settle(runID string) {
	s.journeyMu.Lock()
	j := s.journeys[runID]
	if j == nil || j.live == nil || len(j.checks) < len(j.live.Steps) {
		s.journeyMu.Unlock()
		return
	}
	delete(s.journeys, runID)
	s.journeyMu.Unlock()
	failed, name, reason := -1, "", ""
	for i, st := range j.live.Steps {
		if r := j.checks[i]; r != "" {
			failed, name, reason = i, st.Name, r
			break
		}
	}
	// The live run passed, so its own Cost is zero: the candidate's failure
	// costs what the scenario says.
	run := *j.live
	run.Cost = s.scenarios[j.scenario].Cost
	s.figures.BotRun("candidate", j.scenario, failed < 0, reason, run.Cost.String())
	s.record(run, "candidate", s.candidate.Version, failed, name, reason)
}

// expire forgets journeys whose candidate answers did not all come (copies
// dropped, or the live run broke off before its steps were sent).
func (s *session) expire(older time.Duration) {
	s.journeyMu.Lock()
	defer s.journeyMu.Unlock()
	for id, j := range s.journeys {
		if time.Since(j.created) > older {
			delete(s.journeys, id)
			s.unjudged.Add(1)
		}
	}
}

// record keeps a bot run for the store; failed is the failed step's index, -1
// when the run passed.
func (s *session) record(run bots.Run, target string, release, failed int, stepName, reason string) {
	r := store.BotRun{App: s.app, Release: release, Target: target, Scenario: run.Scenario, File: run.File,
		Passed: failed < 0, FailedStep: failed, StepName: stepName, Reason: reason,
		Started: run.Started, Duration: run.Duration}
	if failed >= 0 {
		r.CostAmount, r.CostCurrency = run.Cost.Amount, run.Cost.Currency
	}
	s.mu.Lock()
	s.botRuns = append(s.botRuns, r)
	s.mu.Unlock()
}

func (s *session) takeBotRuns() []store.BotRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.botRuns
	s.botRuns = nil
	return out
}

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
