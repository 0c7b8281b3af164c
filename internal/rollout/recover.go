package rollout

import (
	"context"
	"errors"
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
		_ = m.runtime.Stop(ctx, WorkloadID(rel.App, rel.Version))
		rel.Status = store.StatusFailed
		rel.Reasons = append(rel.Reasons, interruptedReason)
		rel.FinishedAt = ptr(now())
		if err := m.store.UpdateRelease(ctx, rel); err != nil {
			return err
		}
		m.event(ctx, "release.failed", rel.App, rel.Version, map[string]string{"phase": "interrupted", "reason": interruptedReason})
		m.log.Warn("interrupted deploy recorded as failed", "app", rel.App, "release", rel.Version)
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
		have[st.ID] = true
	}
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
	return m.SyncRoutes(ctx)
}

// Run sweeps, until ctx ends, the workloads that should no longer run: replaced
// releases past their warm time (once they have no request in flight), failed
// ones, and those of deleted apps.
func (m *Manager) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("sweep", "err", err)
			}
		}
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
	m.mu.Lock()
	ch, ok := m.locks[app]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[app] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
		defer func() { <-ch }()
	default:
		return
	}

	releases, err := m.store.ListReleases(ctx, app)
	if err != nil {
		return
	}
	byVersion := map[int]store.Release{}
	warm := 0 // the newest replaced release stays warm
	for _, r := range releases {
		byVersion[r.Version] = r
		if warm == 0 && r.LiveAt != nil && r.Status != store.StatusLive {
			warm = r.Version
		}
	}
	for _, st := range sts {
		rel, ok := byVersion[st.Release]
		if ok && rel.Status == store.StatusLive {
			continue
		}
		if ok && (rel.Status == store.StatusSuperseded || rel.Status == store.StatusRolledBack) {
			replaced := rel.CreatedAt
			if rel.FinishedAt != nil {
				replaced = *rel.FinishedAt
			}
			if st.Release == warm && time.Since(replaced) < m.opts.Warm {
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
}
