package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/bots"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// MetricsReader is the part of the data plane that reports what users got from
// each release; the grace watch reads it. The node implements it.
type MetricsReader interface {
	Metrics(ctx context.Context) ([]router.ReleaseMetrics, error)
}

// WindowReader is a data plane whose figures are summed over several routers
// (router replicas reporting to the node): it tells whether they are complete
// since a time. The grace watch judges no window whose data is incomplete:
// missing data is never a pass. The node implements it.
type WindowReader interface {
	MetricsWindow(ctx context.Context, since time.Time) (router.Window, error)
}

// watcher runs an app's synthetic customers against its live release and, for
// a grace period after a promotion, watches the new release for a regression.
type watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	runner *bots.Runner // the live bots now; guarded by Manager.mu
}

// graceErrorMinRequests is how many requests the grace watch needs before it
// judges the new release's error rate.
const graceErrorMinRequests = 20

// graceBotFailures is how many failed runs in a row of one journey make a
// regression: one failure can be the bot's own bad luck.
const graceBotFailures = 2

// background returns the context of work that outlives a request: the one Run
// was given, or a fresh one when Run is not running.
func (m *Manager) background() context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bg != nil {
		return m.bg
	}
	return context.Background()
}

// stopWatch stops the app's watcher, if any, and waits for it.
func (m *Manager) stopWatch(app string) {
	m.mu.Lock()
	w := m.watchers[app]
	delete(m.watchers, app)
	m.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// startLiveWatch keeps the bots of a live release running against it.
func (m *Manager) startLiveWatch(rel store.Release) {
	cfg, err := appconfig.Load(rel.Artifact)
	if err != nil {
		m.log.Warn("prosper.yaml of the live release", "app", rel.App, "release", rel.Version, "err", err)
		return
	}
	m.startWatch(rel, nil, 0, cfg)
}

// startGrace watches a just promoted release for its grace period, then keeps
// its bots running against it.
func (m *Manager) startGrace(rel, prev store.Release, cfg appconfig.Config) {
	grace := cfg.Verify.Grace.Duration()
	if grace <= 0 {
		grace = m.opts.Grace
	}
	m.startWatch(rel, &prev, grace, cfg)
}

// startWatch replaces the app's watcher. prev is the release to roll back to
// when the watched one regresses within grace; nil watches without grace.
func (m *Manager) startWatch(rel store.Release, prev *store.Release, grace time.Duration, cfg appconfig.Config) {
	m.stopWatch(rel.App)
	scenarios, err := bots.Load(rel.Artifact, cfg.Bots)
	if err != nil {
		m.log.Warn("bots of the live release", "app", rel.App, "release", rel.Version, "err", err)
		scenarios = nil
	}
	if prev == nil && len(scenarios) == 0 {
		return // nothing to run, nothing to watch
	}
	ctx, cancel := context.WithCancel(m.background())
	w := &watcher{cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.watchers[rel.App] = w
	m.mu.Unlock()
	go func() {
		defer close(w.done)
		m.watch(ctx, w, rel, prev, grace, cfg, scenarios)
	}()
}

// setLiveRunner makes r the runner of w's live bots, paused as many times as
// verifications of the app hold them (see pauseLiveBots). Call it before
// r.Start.
func (m *Manager) setLiveRunner(app string, w *watcher, r *bots.Runner) {
	m.mu.Lock()
	w.runner = r
	n := m.botPauses[app]
	m.mu.Unlock()
	for range n {
		r.Pause()
	}
}

// pauseLiveBots returns once the app's live bots have finished their runs in
// flight, and holds them (a runner the watcher starts meanwhile included)
// until resume is called. A verification pauses them before it stops them:
// stopping alone cuts a run short, and a write it already sent could reach
// live after the verification copied live's data but never reach the
// candidate, whose ids would then differ from live's (the next journey's GET
// of the item it just created answers 404 on the candidate).
func (m *Manager) pauseLiveBots(app string) (resume func()) {
	m.mu.Lock()
	m.botPauses[app]++
	var r *bots.Runner
	if w := m.watchers[app]; w != nil {
		r = w.runner
	}
	m.mu.Unlock()
	if r != nil {
		r.Pause()
	}
	return func() {
		m.mu.Lock()
		if m.botPauses[app]--; m.botPauses[app] <= 0 {
			delete(m.botPauses, app)
		}
		var r *bots.Runner
		if w := m.watchers[app]; w != nil {
			r = w.runner
		}
		m.mu.Unlock()
		if r != nil {
			r.Resume()
		}
	}
}

// botTally follows the live runs of the watched release's journeys.
type botTally struct {
	mu      sync.Mutex
	inARow  map[string]int // consecutive failures per journey
	failure string         // the first journey that failed graceBotFailures times in a row
	runs    []store.BotRun
}

func (b *botTally) add(app string, release int, run bots.Run) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := store.BotRun{App: app, Release: release, Target: store.TargetLive, Scenario: run.Scenario, File: run.File,
		Passed: run.Passed, FailedStep: -1, Reason: run.Reason, Started: run.Started, Duration: run.Duration}
	if !run.Passed {
		r.FailedStep = run.FailedStep
		if run.FailedStep >= 0 && run.FailedStep < len(run.Steps) {
			r.StepName = run.Steps[run.FailedStep].Name
		}
		r.CostAmount, r.CostCurrency = run.Cost.Amount, run.Cost.Currency
	}
	b.runs = append(b.runs, r)
	if run.Passed {
		b.inARow[run.Scenario] = 0
		return
	}
	b.inARow[run.Scenario]++
	if b.inARow[run.Scenario] >= graceBotFailures && b.failure == "" {
		b.failure = fmt.Sprintf("bot journey %q failed %d times in a row: %s", run.Scenario, b.inARow[run.Scenario], run.Reason)
	}
}

// failing describes a journey failing right now (graceBotFailures runs in a row
// or more), or "" when none is.
func (b *botTally) failing() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, n := range b.inARow {
		if n >= graceBotFailures {
			return fmt.Sprintf("bot journey %q has failed %d times in a row", name, n)
		}
	}
	return ""
}

func (b *botTally) take() ([]store.BotRun, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	runs := b.runs
	b.runs = nil
	return runs, b.failure
}

// watch is the body of a watcher.
func (m *Manager) watch(ctx context.Context, w *watcher, rel store.Release, prev *store.Release, grace time.Duration, cfg appconfig.Config, scenarios []bots.Scenario) {
	app := rel.App
	tally := &botTally{inARow: map[string]int{}}
	inGrace := prev != nil
	run := scenarios
	if inGrace && len(run) == 0 {
		run = []bots.Scenario{bots.Smoke(cfg.Health)}
	}
	runner := bots.NewRunner(run, bots.Target{BaseURL: m.opts.RouterURL, Host: app + "." + m.opts.Domain},
		func(r bots.Run) { tally.add(app, rel.Version, r) })
	m.setLiveRunner(app, w, runner)
	runner.Start(ctx)
	defer runner.Stop()
	flush := func() {
		runs, _ := tally.take()
		if len(runs) > 0 {
			if err := m.store.RecordBotRuns(context.WithoutCancel(ctx), runs); err != nil {
				m.log.Warn("record bot runs", "app", app, "err", err)
			}
		}
	}
	defer flush()

	gates, _ := verify.ParseGates(cfg.Verify.Gates)
	id := WorkloadID(app, rel.Version)
	baseRestarts := -1
	if st, err := m.workload(ctx, id); err == nil {
		baseRestarts = restarts(st)
	}
	// The error rate is judged over a window that starts at base. A window
	// whose data is incomplete (a router replica's reports lost or late) is
	// dropped, and a new one starts once the data is complete again.
	windowStart := time.Now()
	base, haveBase, missing := m.releaseMetrics(ctx, app, rel.Version, windowStart)
	if missing != "" {
		haveBase = false
	}
	waiting := missing // why the error rate cannot be judged now, "" when it can
	prevBase, _, _ := m.releaseMetrics(ctx, app, prev0(prev), time.Time{})
	end := time.Now().Add(grace)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastFlush := time.Now()
	lastCheck := time.Now()
	var regression int64 // the open gate_regression incident this watcher opened
	if prev != nil {
		m.resolveRegressions(ctx, rel)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(lastFlush) > 5*time.Second {
			flush()
			lastFlush = time.Now()
		}
		if !inGrace {
			if time.Since(lastCheck) >= time.Second {
				lastCheck = time.Now()
				if !m.watchRegression(ctx, rel, tally, &regression) {
					return
				}
			}
			continue
		}
		if live, err := m.store.LiveRelease(ctx, app); err != nil || live.Version != rel.Version {
			return // another release went live, or the app is gone: not ours to watch
		}
		reason, cause := "", store.CauseRollback
		if st, err := m.workload(ctx, id); err == nil && baseRestarts >= 0 && restarts(st) > baseRestarts {
			reason, cause = fmt.Sprintf("v%d crashed after promotion: %s", rel.Version, CrashWords(st)), store.CauseCrashLoop
		}
		cur, ok, missing := m.releaseMetrics(ctx, app, rel.Version, windowStart)
		switch {
		case reason != "" || !ok:
		case missing != "":
			if waiting == "" {
				m.log.Warn("router figures incomplete; the grace watch waits for complete ones", "app", app, "release", rel.Version, "missing", missing)
			}
			waiting, haveBase, windowStart = missing, false, time.Now()
		case !haveBase:
			waiting, base, haveBase = "", cur, true
		default:
			waiting = ""
			n := cur.Requests - base.Requests
			if n >= graceErrorMinRequests {
				rate := float64(cur.Status5xx-base.Status5xx) / float64(n)
				was := prevBase.errorRate()
				if rate > was+gates.ErrorRate+1e-9 {
					reason = fmt.Sprintf("v%d answered %d of %d requests with a 5xx after promotion (%s; v%d: %s)",
						rel.Version, cur.Status5xx-base.Status5xx, n, verify.Pct(rate), prev.Version, verify.Pct(was))
				}
			}
		}
		if _, failure := tally.take0(); reason == "" && failure != "" {
			reason = fmt.Sprintf("v%d regressed after promotion: %s", rel.Version, failure)
		}
		if reason != "" {
			flush()
			m.autoRollback(ctx, rel, *prev, cause, reason)
			return
		}
		if time.Now().After(end) {
			inGrace = false
			if waiting != "" {
				// Not a pass: the watch could not judge the end of the grace
				// period, and says so instead of trusting the release.
				m.log.Warn("grace period ended without complete router figures", "app", app, "release", rel.Version, "missing", waiting)
				m.event(ctx, "release.unjudged", app, rel.Version, map[string]any{"grace_seconds": grace.Seconds(),
					"reason": "the router figures were incomplete at the end of the grace period: " + waiting})
			} else {
				m.event(ctx, "release.trusted", app, rel.Version, map[string]any{"grace_seconds": grace.Seconds()})
			}
			if len(scenarios) == 0 {
				return
			}
			if len(run) != len(scenarios) {
				// The smoke journey ran for the grace period only.
				runner.Stop()
				runner = bots.NewRunner(scenarios, bots.Target{BaseURL: m.opts.RouterURL, Host: app + "." + m.opts.Domain},
					func(r bots.Run) { tally.add(app, rel.Version, r) })
				m.setLiveRunner(app, w, runner)
				runner.Start(ctx)
			}
		}
	}
}

func (b *botTally) take0() (int, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.runs), b.failure
}

func prev0(p *store.Release) int {
	if p == nil {
		return 0
	}
	return p.Version
}

// titleRegression starts the title of the incidents the live watch opens.
const titleRegression = "bot journeys fail in production on v"

// watchRegression opens an incident (cause gate_regression) when a journey of
// the live release, past its grace period, fails in a row, and resolves it when
// the journeys pass again. It returns false when the release is not live any
// more: the watch is over.
func (m *Manager) watchRegression(ctx context.Context, rel store.Release, tally *botTally, open *int64) bool {
	live, err := m.store.LiveRelease(ctx, rel.App)
	if err != nil || live.Version != rel.Version {
		return false
	}
	failing := tally.failing()
	switch {
	case failing != "" && *open == 0:
		inc, err := m.store.OpenIncident(ctx, store.Incident{App: rel.App, Cause: store.CauseGateRegression,
			Title: fmt.Sprintf("%s%d", titleRegression, rel.Version), Release: rel.Version, Details: failing})
		if err != nil {
			m.log.Error("open incident", "app", rel.App, "err", err)
			return true
		}
		*open = inc.ID
		m.event(ctx, "incident.opened", rel.App, rel.Version, map[string]any{"incident": inc.ID,
			"cause": store.CauseGateRegression, "title": inc.Title, "reason": failing})
	case failing == "" && *open != 0:
		if _, err := m.store.ResolveIncident(ctx, *open, rel.Version, time.Time{}); err == nil {
			m.event(ctx, "incident.resolved", rel.App, rel.Version, map[string]any{"incident": *open,
				"resolved_by": rel.Version, "by": "the bot journeys pass again"})
		}
		*open = 0
	}
	return true
}

// resolveRegressions resolves the open gate_regression incidents of the app's
// earlier releases when a new release goes live: it is the fix deployment (if
// its journeys fail too, its own watch opens a new incident).
func (m *Manager) resolveRegressions(ctx context.Context, rel store.Release) {
	open, err := m.store.Incidents(ctx, store.IncidentQuery{App: rel.App, Open: true})
	if err != nil {
		return
	}
	for _, inc := range open {
		if inc.Cause != store.CauseGateRegression || inc.Release == rel.Version || !strings.HasPrefix(inc.Title, titleRegression) {
			continue
		}
		if _, err := m.store.ResolveIncident(ctx, inc.ID, rel.Version, time.Time{}); err == nil {
			m.event(ctx, "incident.resolved", rel.App, rel.Version, map[string]any{"incident": inc.ID,
				"resolved_by": rel.Version, "by": "a new release went live"})
		}
	}
}

// releaseReading is one reading of a release's router counters.
type releaseReading struct{ Requests, Status5xx int64 }

func (r releaseReading) errorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Status5xx) / float64(r.Requests)
}

// releaseMetrics reads a release's router counters. ok is false when the data
// plane reports none (nothing to judge). missing, when not empty, says why
// the figures since since are incomplete: a router replica's data is missing,
// or the metrics could not be read.
func (m *Manager) releaseMetrics(ctx context.Context, app string, release int, since time.Time) (r releaseReading, ok bool, missing string) {
	if release == 0 {
		return releaseReading{}, false, ""
	}
	var all []router.ReleaseMetrics
	if wr, isWR := m.routes.(WindowReader); isWR {
		w, err := wr.MetricsWindow(ctx, since)
		if err != nil {
			return releaseReading{}, true, "reading the router metrics: " + err.Error()
		}
		all, missing = w.Releases, missingWords(w)
	} else if mr, isMR := m.routes.(MetricsReader); isMR {
		var err error
		if all, err = mr.Metrics(ctx); err != nil {
			return releaseReading{}, true, "reading the router metrics: " + err.Error()
		}
	} else {
		return releaseReading{}, false, ""
	}
	for _, r := range all {
		if r.App == app && r.Release == release {
			return releaseReading{Requests: r.Requests, Status5xx: r.Status5xx}, true, missing
		}
	}
	return releaseReading{}, true, missing
}

// missingWords says what is missing of an incomplete window, "" for a
// complete one.
func missingWords(w router.Window) string {
	if w.Complete {
		return ""
	}
	if len(w.Missing) == 0 {
		return "the router figures are incomplete"
	}
	parts := make([]string, len(w.Missing))
	for i, p := range w.Missing {
		parts[i] = "router replica " + p.Replica + ": " + p.Reason
	}
	return strings.Join(parts, "; ")
}

// autoRollback puts prev back live because rel regressed within its grace
// period, and records the incident: opened when the regression was seen,
// resolved by the rollback.
func (m *Manager) autoRollback(ctx context.Context, rel, prev store.Release, cause, reason string) {
	app := rel.App
	// The records outlive this watcher: the rollback replaces it (see
	// startLiveWatch below), which cancels ctx, and an incident must not stay
	// open after the rollback that resolved it. The rollback itself keeps ctx,
	// so that a deploy that stops this watcher is not kept waiting for the lock.
	rec := context.WithoutCancel(ctx)
	m.log.Warn("release regressed after promotion; rolling back", "app", app, "release", rel.Version, "to", prev.Version, "reason", reason)
	inc, err := m.store.OpenIncident(rec, store.Incident{App: app, Title: fmt.Sprintf("v%d regressed after promotion and was rolled back", rel.Version),
		Cause: cause, Release: rel.Version, Details: reason})
	if err != nil {
		m.log.Error("open incident", "app", app, "err", err)
	} else {
		m.event(rec, "incident.opened", app, rel.Version, map[string]any{"incident": inc.ID, "cause": cause, "title": inc.Title, "reason": reason})
	}
	to, _, err := m.rollback(ctx, app, prev.Version, "automatic: "+reason, nil)
	if err != nil {
		m.log.Error("automatic rollback", "app", app, "to", prev.Version, "err", err)
		return
	}
	// The bots of the release put back live go on; from another goroutine,
	// since this one is the watcher startLiveWatch replaces.
	go m.startLiveWatch(to)
	if inc.ID != 0 {
		// ErrInvalid: resolved already (by hand, or by the crash watch).
		if _, err := m.store.ResolveIncident(rec, inc.ID, to.Version, time.Time{}); err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				m.log.Error("resolve incident", "app", app, "err", err)
			}
		} else {
			m.event(rec, "incident.resolved", app, to.Version, map[string]any{"incident": inc.ID, "resolved_by": to.Version, "by": "automatic rollback"})
		}
	}
}
