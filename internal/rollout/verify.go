package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/bots"
	"github.com/prosperhq/prosper/internal/compare"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// MirrorSource is the part of the data plane that delivers mirrored exchanges.
// SubscribeMirror returns once the subscription is in place, so that nothing
// mirrored after it returns is missed.
type MirrorSource interface {
	SubscribeMirror(ctx context.Context, app string) (next func() (router.Exchange, error), err error)
}

// MirrorLossReader is a data plane whose mirrored exchanges come from several
// routers (router replicas): it tells what may be missing of an app's
// exchanges since a time. A verification whose window lost exchanges is not
// promoted. The node implements it.
type MirrorLossReader interface {
	MirrorLosses(ctx context.Context, app string, since time.Time) ([]router.Missing, error)
}

// Suffixes of the workloads a verification runs beside the live release.
const (
	candidateSuffix = runtime.CandidateSuffix
	controlSuffix   = runtime.ControlSuffix
)

// verificationNice is the CPU priority of the control instance, whose answers
// only teach the noise: below the live release and the router, which serve
// users, and the candidate, whose latency is judged.
const verificationNice = 10

// verificationWorkload reports whether a workload ID is a candidate or control
// instance of a verification rather than a release's own workload.
func verificationWorkload(id string) bool {
	return runtime.Verification(id)
}

// phaseError is an error of the mirror phase that belongs to another phase of
// the deploy: the candidate did not start is a health failure.
type phaseError struct {
	phase string
	err   error
}

func (e *phaseError) Error() string { return e.err.Error() }
func (e *phaseError) Unwrap() error { return e.err }

// Report is what a verification found: stored with the release, shown by
// `prosper verify status` and the API.
type Report struct {
	App string `json:"app"`
	// State is verifying or paused while it runs, then promoted or rejected.
	State          string              `json:"state"`
	Candidate      int                 `json:"candidate"`
	Live           int                 `json:"live"`
	DecidedBy      string              `json:"decided_by,omitempty"` // "gates", "hand", "crash"
	MirrorPercent  float64             `json:"mirror_percent"`
	WindowSeconds  float64             `json:"window_seconds"`
	ElapsedSeconds float64             `json:"elapsed_seconds"`
	MinRequests    int                 `json:"min_requests"`
	Verdict        verify.Verdict      `json:"verdict"`
	Figures        verify.Figures      `json:"figures"`
	Differences    verify.Differences  `json:"differences"`
	Noise          map[string][]string `json:"noise"`
	Control        bool                `json:"control"`
	// AmbiguousReads counts differing reads not compared because live served
	// them while it served a write: their order was undefined.
	AmbiguousReads   int        `json:"ambiguous_reads"`
	Dropped          int64      `json:"dropped"`
	UnjudgedJourneys int64      `json:"unjudged_journeys"`
	StartedAt        time.Time  `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at,omitempty"`
}

// report reads the session's state.
func (s *session) report(state, decidedBy string, verdict verify.Verdict) Report {
	endpoints := s.tracker.Report()
	noise := map[string][]string{}
	for _, e := range endpoints {
		if p := s.noise.NoisyPaths(e.Endpoint); len(p) > 0 {
			noise[e.Endpoint] = p
		}
	}
	return Report{
		App: s.app, State: state, Candidate: s.candidate.Version, Live: s.live.Version, DecidedBy: decidedBy,
		MirrorPercent: s.percent, WindowSeconds: s.window.Seconds(), ElapsedSeconds: seconds(s.elapsed()),
		MinRequests: s.minReqs, Verdict: verdict, Figures: s.figures.Figures(),
		Differences: s.differences(),
		Noise:       noise, Control: s.control != "", Dropped: s.dropped.Load(), AmbiguousReads: s.overlaps.ambiguousReads(),
		UnjudgedJourneys: s.unjudged.Load(), StartedAt: s.started,
	}
}

// verdict is the final judgement: the reads still held are settled first.
func (s *session) verdict() verify.Verdict {
	s.settleReads(true)
	return s.judge()
}

func (s *session) judge() verify.Verdict {
	return verify.Judge(s.figures.Figures(), s.differences(), s.gates, s.minReqs)
}

// differences reads the comparison so far, with the endpoints the release
// declared as changed on purpose.
func (s *session) differences() verify.Differences {
	total, differing := s.tracker.Totals()
	d := verify.Differences{Total: total, Differing: differing, Endpoints: s.tracker.Report()}
	for _, e := range d.Endpoints {
		if expectedEndpoint(s.expect, e.Endpoint) {
			d.Expected = append(d.Expected, e.Endpoint)
		}
	}
	return d
}

func (m *Manager) verifyDir(app string, version int) string {
	return filepath.Join(m.opts.DataDir, "verify", app, fmt.Sprintf("v%d", version))
}

// verifyCandidate runs the mirror phase of rel against the live release: the
// candidate runs on a copy of the live data and receives copies of live traffic
// and of the bots' journeys, and the gates judge it. The live release is never
// touched. Everything it started is stopped when it returns.
func (m *Manager) verifyCandidate(ctx context.Context, a store.App, rel *store.Release, live store.Release,
	cfg appconfig.Config, scenarios []bots.Scenario, expect []string, out io.Writer) (Report, error) {
	app := a.Name
	gates, err := verify.ParseGates(cfg.Verify.Gates)
	if err != nil {
		return Report{}, fmt.Errorf("prosper.yaml: verify.gates: %w", err)
	}
	ignore, err := compare.CompileIgnore(cfg.Verify.Ignore)
	if err != nil {
		return Report{}, fmt.Errorf("prosper.yaml: verify.ignore: %w", err)
	}
	window := cfg.Verify.Window.Duration()
	if window <= 0 {
		window = m.opts.VerifyWindow
	}
	minReqs := cfg.Verify.MinRequests
	if minReqs <= 0 {
		minReqs = verify.DefaultMinRequests
	}
	// The verification runs the bots itself; the live release's go on after a
	// rejection (a promotion starts the new release's). Their runs in flight
	// finish first: a run cut short could have its write reach live after the
	// copy below, and the candidate's data would no longer match live's.
	resume := m.pauseLiveBots(app)
	m.stopWatch(app)
	resume()
	promoted := false
	defer func() {
		if !promoted {
			m.startLiveWatch(live)
		}
	}()
	s := newSession(app, live, *rel, gates, window, minReqs, float64(cfg.Verify.Mirror), ignore)
	s.host = app + "." + m.opts.Domain
	s.expect = expect
	if len(expect) > 0 {
		say(out, "-----> expected to change on purpose (not counted by diff_rate): %s", strings.Join(expect, ", "))
	}
	if len(scenarios) == 0 {
		// Twice a second, so that an app nobody uses yet still reaches
		// min_requests within the default window.
		smoke := bots.Smoke(cfg.Health)
		smoke.Every = 500 * time.Millisecond
		scenarios = []bots.Scenario{smoke}
	}
	for _, sc := range scenarios {
		s.scenarios[sc.Name] = sc
	}

	// Own data: a consistent copy of live's for the candidate, and one for the
	// control instance of the live release.
	started := time.Now()
	base := m.verifyDir(app, rel.Version)
	_ = os.RemoveAll(base)
	defer os.RemoveAll(base)
	candData, ctrlData := filepath.Join(base, "candidate"), filepath.Join(base, "control")
	if err := os.MkdirAll(m.appDataDir(app), 0o755); err != nil {
		return Report{}, err
	}
	files, size, err := copyData(ctx, m.appDataDir(app), candData)
	if err != nil {
		return Report{}, fmt.Errorf("copy the live data for the candidate: %w", err)
	}
	if _, _, err := copyData(ctx, candData, ctrlData); err != nil {
		return Report{}, fmt.Errorf("copy the live data for the control instance: %w", err)
	}
	rel.Phases["copy"] = seconds(time.Since(started))
	say(out, "-----> mirror production: v%d runs on a copy of v%d's data (%d files, %s)", rel.Version, live.Version, files, sizeText(size))

	// Candidate and control instance, started together.
	started = time.Now()
	candSpec, err := m.spec(*rel)
	if err != nil {
		return Report{}, err
	}
	candSpec.ID = WorkloadID(app, rel.Version) + candidateSuffix
	// The candidate runs at the live release's priority: its latency is
	// compared with live's, which a lower priority would make unfair whenever
	// the machine is busy.
	candSpec.Env["DATA_DIR"], candSpec.Env["PROSPER_MIRROR"] = candData, "1"
	ctrlSpec, err := m.spec(live)
	if err != nil {
		return Report{}, err
	}
	ctrlSpec.ID = WorkloadID(app, live.Version) + controlSuffix
	ctrlSpec.Env["DATA_DIR"], ctrlSpec.Env["PROSPER_MIRROR"] = ctrlData, "1"
	ctrlSpec.Nice = verificationNice
	bg := context.WithoutCancel(ctx)
	defer func() {
		_ = m.runtime.Stop(bg, candSpec.ID)
		_ = m.runtime.Stop(bg, ctrlSpec.ID)
	}()
	if err := m.runtime.Start(ctx, candSpec); err != nil {
		return Report{}, &phaseError{phase: "health", err: fmt.Errorf("start: %w", err)}
	}
	ctrlErr := m.runtime.Start(ctx, ctrlSpec)
	timeout := healthTimeout(cfg, m.opts.HealthTimeout)
	say(out, "-----> started v%d (%s); waiting for %s", rel.Version, candSpec.Command, healthWords(candSpec.HealthPath))
	candSt, err := m.waitReady(ctx, candSpec, rel.Version, timeout)
	if err != nil {
		return Report{}, &phaseError{phase: "health", err: err}
	}
	rel.Phases["start"] = seconds(time.Since(started))
	if ctrlErr == nil {
		// The control instance ran before as the live release: it is given a
		// few seconds, and without it the noise is learned from volatile
		// shapes only.
		if st, err := m.waitReady(ctx, ctrlSpec, live.Version, min(timeout, 10*time.Second)); err == nil && len(st.Replicas) > 0 {
			s.control = "http://" + st.Replicas[0].Addr
		} else {
			m.log.Warn("control instance did not start; learning noise without it", "app", app, "err", err)
		}
	}
	baseRestarts := restarts(candSt)

	// Copies of live traffic and bot journeys.
	if m.mirror == nil {
		return Report{}, errors.New("the data plane cannot mirror traffic")
	}
	subCtx, cancelSub := context.WithCancel(ctx)
	defer cancelSub()
	next, err := m.mirror.SubscribeMirror(subCtx, app)
	if err != nil {
		return Report{}, fmt.Errorf("subscribe to mirrored traffic: %w", err)
	}
	var workers sync.WaitGroup
	// One worker, in the order the router delivers the exchanges (which keeps
	// a write after the reads live served before it, and before the reads
	// after it): the control instance then gets the requests in an order
	// consistent with live's, as the candidate did.
	queue := make(chan router.Exchange, 512)
	workers.Go(func() {
		defer close(queue)
		for {
			ex, err := next()
			if err != nil {
				return
			}
			select {
			case queue <- ex:
			default:
				s.dropped.Add(1)
			}
		}
	})
	workers.Go(func() {
		for ex := range queue {
			s.exchange(subCtx, ex)
		}
	})
	defer func() {
		cancelSub()
		workers.Wait()
	}()
	mirrorSince := time.Now()
	if err := m.setMirror(ctx, app, &router.MirrorPolicy{Release: rel.Version, Addrs: addrs(candSt), Percent: s.percent}); err != nil {
		return Report{}, fmt.Errorf("mirror traffic to the candidate: %w", err)
	}
	defer func() {
		if err := m.setMirror(bg, app, nil); err != nil {
			m.log.Error("stop mirroring", "app", app, "err", err)
		}
	}()
	runner := bots.NewRunner(scenarios, bots.Target{BaseURL: m.opts.RouterURL, Host: s.host}, s.liveRun)
	s.startClock()
	runner.Start(subCtx)
	defer runner.Stop()

	m.setSession(app, s)
	defer m.setSession(app, nil)
	s.figures.WarmUntil(time.Now().Add(min(s.window/10, time.Second)))
	names := make([]string, 0, len(scenarios))
	for _, sc := range scenarios {
		names = append(names, sc.Name)
	}
	s.figures.ExpectBots(names...)
	m.event(ctx, "verify.started", app, rel.Version, map[string]any{
		"live": live.Version, "mirror_percent": s.percent, "window_seconds": window.Seconds(),
		"min_requests": minReqs, "bots": names})
	say(out, "-----> mirror production: v%d gets %s of v%d's live traffic and the bot journeys %s; verdict after %s and %d compared requests",
		rel.Version, appconfig.Percent(s.percent), live.Version, strings.Join(quoteAll(names), ", "), window, minReqs)

	verdict, decidedBy, err := m.watchVerification(ctx, s, candSpec.ID, baseRestarts, out)
	if err != nil {
		return Report{}, err
	}
	if verdict.Passed && decidedBy == "gates" {
		if lost := m.mirrorLosses(ctx, app, mirrorSince); lost != "" {
			verdict.Passed = false
			verdict.Reasons = append(verdict.Reasons, lost)
		}
	}
	state := "rejected"
	if verdict.Passed {
		state = "promoted"
	}
	promoted = verdict.Passed
	rep := s.report(state, decidedBy, verdict)
	rep.FinishedAt = ptr(now())
	if runs := s.takeBotRuns(); len(runs) > 0 {
		if err := m.store.RecordBotRuns(bg, runs); err != nil {
			m.log.Error("record bot runs", "app", app, "err", err)
		}
	}
	return rep, nil
}

// watchVerification runs the verification clock: it reads the figures, reports
// progress, obeys the commands of `prosper verify` and ends with a verdict.
func (m *Manager) watchVerification(ctx context.Context, s *session, candID string, baseRestarts int, out io.Writer) (verify.Verdict, string, error) {
	maxWait := max(3*s.window, s.window+20*time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastSay := time.Now()
	for {
		select {
		case <-ctx.Done():
			return verify.Verdict{}, "", ctx.Err()
		case cmd := <-s.commands:
			switch cmd {
			case VerifyPause:
				s.setPaused(true)
				say(out, "-----> verification paused by hand: mirroring goes on, the verdict waits for `prosper verify resume %s`", s.app)
			case VerifyResume:
				s.setPaused(false)
				say(out, "-----> verification resumed")
			case VerifyPromote:
				v := s.verdict()
				v.Passed = true
				v.Reasons = []string{"promoted by hand with `prosper verify promote`"}
				return v, "hand", nil
			case VerifyAbort:
				v := s.verdict()
				v.Passed = false
				v.Reasons = []string{"aborted by hand with `prosper verify abort`"}
				return v, "hand", nil
			}
			continue
		case <-tick.C:
		}
		if st, err := m.workload(ctx, candID); err == nil {
			if n := restarts(st) - baseRestarts; n > 0 {
				s.figures.Restarts(n, CrashWords(st))
				return s.verdict(), "crash", nil
			}
		}
		s.expire(15 * time.Second)
		s.settleReads(false)
		el := s.elapsed()
		if !s.isPaused() && el >= s.window {
			if f := s.figures.Figures(); (f.Requests >= s.minReqs && botsJudged(f)) || el >= maxWait {
				return s.verdict(), "gates", nil
			}
		}
		if time.Since(lastSay) >= time.Second {
			lastSay = time.Now()
			say(out, "-----> verifying v%d · %s of %s · %s", s.candidate.Version, el.Round(time.Second), s.window, progress(s))
		}
	}
}

// mirrorLosses says which router replicas may have lost mirrored exchanges of
// the app since since, "" when none did. The gates judged the exchanges that
// arrived; lost ones could have differed, and missing data is never a pass.
func (m *Manager) mirrorLosses(ctx context.Context, app string, since time.Time) string {
	lr, ok := m.mirror.(MirrorLossReader)
	if !ok {
		return ""
	}
	lost, err := lr.MirrorLosses(ctx, app, since)
	if err != nil {
		return "could not learn whether mirrored exchanges were lost: " + err.Error()
	}
	if len(lost) == 0 {
		return ""
	}
	parts := make([]string, len(lost))
	for i, l := range lost {
		parts[i] = "router replica " + l.Replica + ": " + l.Reason
	}
	return "mirrored exchanges of the window may be missing, so the comparison is incomplete (" + strings.Join(parts, "; ") + ")"
}

// botsJudged reports whether every journey has said something about the
// candidate; until then the verdict waits, up to its longest wait.
func botsJudged(f verify.Figures) bool {
	for _, b := range f.Bots {
		if !b.Judged() {
			return false
		}
	}
	return true
}

// progress sums up the figures so far in one line.
func progress(s *session) string {
	f := s.figures.Figures()
	total, differing := s.tracker.Totals()
	parts := []string{fmt.Sprintf("%d compared, %d differ", total, differing),
		fmt.Sprintf("errors %s (live %s)", verify.Pct(f.CandidateErrorRate), verify.Pct(f.LiveErrorRate))}
	if f.LatencySamples > 0 {
		parts = append(parts, fmt.Sprintf("p99 %.1f ms (live %.1f ms)", f.Candidate.P99, f.Live.P99))
	}
	runs, passed := 0, 0
	for _, b := range f.Bots {
		runs += b.CandidateRuns
		passed += b.CandidateRuns - b.CandidateFails
	}
	parts = append(parts, fmt.Sprintf("bots %d/%d passed", passed, runs))
	return strings.Join(parts, " · ")
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

// setMirror sets or clears (nil) the mirror policy of the app's route and pushes
// the table.
func (m *Manager) setMirror(ctx context.Context, app string, p *router.MirrorPolicy) error {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if p == nil {
		delete(m.mirrors, app)
	} else {
		m.mirrors[app] = p
	}
	return m.pushRoutes(ctx, nil)
}

func (m *Manager) setSession(app string, s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == nil {
		delete(m.sessions, app)
		return
	}
	m.sessions[app] = s
}

func (m *Manager) session(app string) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[app]
}

// ErrNotVerifying is returned by verification commands when no release of the
// app is being verified.
var ErrNotVerifying = errors.New("no release of this app is in mirror production now")

// VerifyCommand sends pause, resume, promote or abort to the app's verification
// in progress.
func (m *Manager) VerifyCommand(app, cmd string) error {
	switch cmd {
	case VerifyPause, VerifyResume, VerifyPromote, VerifyAbort:
	default:
		return fmt.Errorf("unknown verification command %q: use pause, resume, promote or abort", cmd)
	}
	s := m.session(app)
	if s == nil {
		return ErrNotVerifying
	}
	select {
	case s.commands <- cmd:
		return nil
	case <-time.After(2 * time.Second):
		return errors.New("the verification did not take the command; try again")
	}
}

// VerifyStatus returns the app's verification in progress, or the report of
// its latest verified release.
func (m *Manager) VerifyStatus(ctx context.Context, app string) (Report, error) {
	if _, err := m.store.GetApp(ctx, app); err != nil {
		return Report{}, err
	}
	if s := m.session(app); s != nil {
		state := "verifying"
		if s.isPaused() {
			state = "paused"
		}
		return s.report(state, "", s.judge()), nil
	}
	releases, err := m.store.ListReleases(ctx, app)
	if err != nil {
		return Report{}, err
	}
	for _, rel := range releases { // newest first
		if len(rel.Verification) == 0 {
			continue
		}
		var r Report
		if err := json.Unmarshal(rel.Verification, &r); err != nil {
			return Report{}, fmt.Errorf("read the verification report of v%d: %w", rel.Version, err)
		}
		return r, nil
	}
	return Report{}, fmt.Errorf("%w: %s has no verified release yet (the first release goes live without one)", store.ErrNotFound, app)
}

// waitReady waits until every replica of the workload is healthy, or the
// workload crashed too often, or timeout passed.
func (m *Manager) waitReady(ctx context.Context, spec runtime.Spec, version int, timeout time.Duration) (runtime.Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := m.workload(ctx, spec.ID)
		if err == nil && st.Ready() {
			return st, nil
		}
		if err == nil && restarts(st) >= crashLimit {
			return st, fmt.Errorf("v%d crashed %d times while starting: %s", version, restarts(st), CrashWords(st))
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("v%d did not become healthy within %s (%s)", version, timeout, healthWords(spec.HealthPath))
			if err == nil && exited(st) {
				msg += ": " + CrashWords(st)
			}
			return st, errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
