package rollout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// interruptedReason is recorded on a release whose deploy the control plane did
// not live to finish.
const interruptedReason = "interrupted: the control plane stopped during this deploy; deploy again"

// Recover makes the world match the store after a start: deploys that were cut
// short are recorded as failed and their processes stopped, every live release
// runs (started again if the data plane is new), and the router serves them.
func (m *Manager) Recover(ctx context.Context) error {
	half, err := m.store.ReleasesInStatus(ctx, store.StatusBuilding, store.StatusVerifying)
	if err != nil {
		return err
	}
	for _, rel := range half {
		rel.Status = store.StatusFailed
		rel.Reasons = append(rel.Reasons, interruptedReason)
		rel.FinishedAt = ptr(now())
		if err := m.store.UpdateRelease(ctx, rel); err != nil {
			return err
		}
		m.event(ctx, "release.failed", rel.App, rel.Version, map[string]string{"phase": "interrupted", "reason": interruptedReason})
		m.log.Warn("interrupted deploy recorded as failed", "app", rel.App, "release", rel.Version)
	}
	if len(half) > 0 {
		// The router may have been switched to an interrupted release just
		// before the control plane died (see switchTo). Point it back at the
		// live releases, which still run, before stopping anything, and let the
		// requests that already went to the interrupted ones finish.
		if err := m.SyncRoutes(ctx); err != nil {
			return err
		}
		for _, rel := range half {
			m.stopDrained(ctx, rel.App, rel.Version)
		}
	}

	apps, err := m.store.ListApps(ctx)
	if err != nil {
		return err
	}
	running, err := m.runtime.List(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, st := range running {
		if verificationWorkload(st.ID) {
			// A verification the control plane's death cut short: its
			// release was recorded failed above.
			if err := m.runtime.Stop(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				m.log.Warn("stop interrupted verification", "workload", st.ID, "err", err)
			}
			continue
		}
		have[st.ID] = true
	}
	_ = os.RemoveAll(filepath.Join(m.opts.DataDir, "verify"))
	var started []string
	for _, a := range apps {
		live, err := m.store.LiveRelease(ctx, a.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		id := WorkloadID(a.Name, live.Version)
		if have[id] {
			continue
		}
		spec, err := m.spec(live)
		if err != nil {
			m.log.Error("cannot resume app", "app", a.Name, "release", live.Version, "err", err)
			continue
		}
		if err := m.runtime.Start(ctx, spec); err != nil {
			m.log.Error("cannot resume app", "app", a.Name, "release", live.Version, "err", err)
			continue
		}
		started = append(started, id)
	}
	// Wait for resumed apps so that the router does not send the first requests
	// to processes that are not listening yet; a broken one must not hold up the
	// others for long.
	deadline := time.Now().Add(m.opts.HealthTimeout)
	for _, id := range started {
		for time.Now().Before(deadline) {
			st, err := m.workload(ctx, id)
			if err != nil || st.Ready() || restarts(st) >= crashLimit {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if err := m.SyncRoutes(ctx); err != nil {
		return err
	}
	for _, a := range apps {
		if live, err := m.store.LiveRelease(ctx, a.Name); err == nil {
			m.startLiveWatch(live)
		}
	}
	return nil
}

// Close stops the bots and grace watches of every app.
func (m *Manager) Close() {
	m.mu.Lock()
	apps := make([]string, 0, len(m.watchers))
	for app := range m.watchers {
		apps = append(apps, app)
	}
	m.mu.Unlock()
	for _, app := range apps {
		m.stopWatch(app)
	}
}

// stopDrained stops a release's workload, if it runs, once the router has no
// request in flight on it, waiting at most drainGrace.
func (m *Manager) stopDrained(ctx context.Context, app string, version int) {
	id := WorkloadID(app, version)
	if _, err := m.workload(ctx, id); err != nil {
		return
	}
	deadline := time.Now().Add(drainGrace)
	for time.Now().Before(deadline) {
		// Wait first: a request that picked the release just before the switch
		// may not be counted in flight yet.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		if n, err := m.routes.InFlight(ctx, app, version); err == nil && n == 0 {
			break
		}
	}
	if err := m.runtime.Stop(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		m.log.Warn("stop interrupted release", "app", app, "release", version, "err", err)
	}
}

// Run sweeps, until ctx ends, the workloads that should no longer run: replaced
// releases past their warm time (once they have no request in flight), failed
// ones, and those of deleted apps.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	m.mu.Lock()
	m.bg = ctx
	m.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	lastPrune := time.Now()
	m.pruneBotRuns(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("sweep", "err", err)
			}
			if err := m.WatchCrashes(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("crash watch", "err", err)
			}
			if time.Since(lastPrune) > time.Hour {
				lastPrune = time.Now()
				m.pruneBotRuns(ctx)
			}
		}
	}
}

// Bot runs are kept for the test-value readings: the passed ones for a week,
// the failed ones, which are the catches, for 90 days.
const (
	keepPassedBotRuns = 7 * 24 * time.Hour
	keepFailedBotRuns = 90 * 24 * time.Hour
)

func (m *Manager) pruneBotRuns(ctx context.Context) {
	if _, err := m.store.PruneBotRuns(ctx, time.Now().Add(-keepPassedBotRuns), true); err != nil && ctx.Err() == nil {
		m.log.Warn("prune passed bot runs", "err", err)
	}
	if _, err := m.store.PruneBotRuns(ctx, time.Now().Add(-keepFailedBotRuns), false); err != nil && ctx.Err() == nil {
		m.log.Warn("prune failed bot runs", "err", err)
	}
}

// drainGrace is the least time a replaced release keeps running after the switch,
// so that a request that picked it just before the switch is counted in flight.
const drainGrace = 2 * time.Second

// Sweep stops the workloads that should no longer run; see Run.
func (m *Manager) Sweep(ctx context.Context) error {
	all, err := m.runtime.List(ctx)
	if err != nil {
		return err
	}
	byApp := map[string][]runtime.Status{}
	for _, st := range all {
		byApp[st.App] = append(byApp[st.App], st)
	}
	for app, sts := range byApp {
		m.sweepApp(ctx, app, sts)
	}
	return nil
}

func (m *Manager) sweepApp(ctx context.Context, app string, sts []runtime.Status) {
	// Leave an app alone while it deploys: the deploy owns its workloads.
	unlock, ok := m.tryLock(app)
	if !ok {
		return
	}
	defer unlock()

	releases, err := m.store.ListReleases(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		// The app was deleted: none of its workloads should run.
		releases = nil
	} else if err != nil {
		m.log.Warn("sweep: list releases", "app", app, "err", err)
		return
	}
	byVersion := map[int]store.Release{}
	// The last replaced release stays warm, for an instant rollback. That is
	// not always the newest: after a rollback by version and a new deploy, the
	// release the deploy replaced is older than the one rolled back from.
	var warm store.Release
	for _, r := range releases {
		byVersion[r.Version] = r
		if r.LiveAt != nil && r.Status != store.StatusLive &&
			(warm.Version == 0 || replacedAt(r).After(replacedAt(warm))) {
			warm = r
		}
	}
	for _, st := range sts {
		if verificationWorkload(st.ID) {
			// Left by a verification that ended without stopping it (the
			// app's lock is free, so none is running).
			if err := m.runtime.Stop(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				m.log.Warn("stop verification workload", "workload", st.ID, "err", err)
			}
			continue
		}
		rel, ok := byVersion[st.Release]
		if ok && rel.Status == store.StatusLive {
			continue
		}
		if ok && (rel.Status == store.StatusSuperseded || rel.Status == store.StatusRolledBack) {
			replaced := replacedAt(rel)
			if st.Release == warm.Version && time.Since(replaced) < m.opts.Warm {
				continue
			}
			if time.Since(replaced) < drainGrace {
				continue
			}
			if n, err := m.routes.InFlight(ctx, app, st.Release); err != nil || n > 0 {
				continue
			}
		}
		m.log.Info("stopping release", "app", app, "release", st.Release)
		if err := m.runtime.Stop(ctx, st.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			m.log.Warn("stop release", "app", app, "release", st.Release, "err", err)
		}
	}
	if len(releases) > m.opts.KeepReleases {
		if sts, err := m.runtime.List(ctx); err == nil {
			m.pruneReleases(ctx, releases, sts)
		}
	}
}
