package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// crashTitleSuffix ends the title of the incidents the crash watch opens: it
// resolves only those, and leaves the crash-loop incidents of a rollback in
// grace (autoRollback) to the watcher that opened them.
const crashTitleSuffix = " is crash-looping in production"

// WatchCrashes opens an incident (cause crash_loop) for each app whose live
// release is crash-looping, unless one is open already, and resolves the ones it
// opened once the app no longer crash-loops: the release recovered (resolved by
// itself) or another went live (resolved by that one). Each opening and
// resolution is also an event. Run calls it every sweep.
func (m *Manager) WatchCrashes(ctx context.Context) error {
	apps, err := m.store.ListApps(ctx)
	if err != nil {
		return err
	}
	all, err := m.runtime.List(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]runtime.Status, len(all))
	for _, st := range all {
		byID[st.ID] = st
	}
	for _, a := range apps {
		m.watchCrash(ctx, a.Name, byID)
	}
	return nil
}

func (m *Manager) watchCrash(ctx context.Context, app string, byID map[string]runtime.Status) {
	// A deploy or rollback in progress owns the app's workloads: judge it once
	// it is done.
	unlock, ok := m.tryLock(app)
	if !ok {
		return
	}
	defer unlock()
	live, err := m.store.LiveRelease(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		m.log.Warn("crash watch: live release", "app", app, "err", err)
		return
	}
	open, err := m.store.Incidents(ctx, store.IncidentQuery{App: app, Open: true})
	if err != nil {
		m.log.Warn("crash watch: incidents", "app", app, "err", err)
		return
	}
	st, running := byID[WorkloadID(app, live.Version)]
	crashing := running && st.CrashLooping()
	anyOpen := false
	for _, in := range open {
		if in.Cause != store.CauseCrashLoop {
			continue
		}
		anyOpen = true
		if !strings.HasSuffix(in.Title, crashTitleSuffix) {
			continue
		}
		// A live release that the runtime does not list is not known to
		// have recovered: the data plane may be restarting.
		if in.Release == live.Version && (crashing || !running) {
			continue
		}
		m.resolveCrash(ctx, in, live.Version)
	}
	if !crashing || anyOpen || m.inGrace(app, live) {
		return
	}
	in, err := m.store.OpenIncident(ctx, store.Incident{App: app, Title: fmt.Sprintf("v%d%s", live.Version, crashTitleSuffix),
		Cause: store.CauseCrashLoop, Release: live.Version, Details: CrashWords(st)})
	if err != nil {
		m.log.Error("crash watch: open incident", "app", app, "err", err)
		return
	}
	m.log.Warn("live release is crash-looping; incident opened", "app", app, "release", live.Version, "incident", in.ID, "details", in.Details)
	m.incidentEvent(ctx, "incident.opened", app, live.Version, in.OpenedAt,
		map[string]any{"incident": in.ID, "cause": in.Cause, "title": in.Title})
}

// inGrace reports whether a release that went live recently is still watched
// by its grace watcher, which rolls back a crash and records the incident itself
// (autoRollback): two incidents for one crash would count it twice.
func (m *Manager) inGrace(app string, live store.Release) bool {
	m.mu.Lock()
	_, watched := m.watchers[app]
	m.mu.Unlock()
	if !watched || live.LiveAt == nil {
		return false
	}
	grace := m.opts.Grace
	if cfg, err := appconfig.Load(live.Artifact); err == nil && cfg.Verify.Grace.Duration() > 0 {
		grace = cfg.Verify.Grace.Duration()
	}
	return time.Since(*live.LiveAt) < grace
}

func (m *Manager) resolveCrash(ctx context.Context, in store.Incident, by int) {
	got, err := m.store.ResolveIncident(ctx, in.ID, by, time.Time{})
	if errors.Is(err, store.ErrInvalid) {
		return // resolved in the meantime, by a person
	}
	if err != nil {
		m.log.Error("crash watch: resolve incident", "app", in.App, "incident", in.ID, "err", err)
		return
	}
	m.log.Info("crash loop over; incident resolved", "app", in.App, "incident", in.ID, "resolved_by", by)
	m.incidentEvent(ctx, "incident.resolved", in.App, by, *got.ResolvedAt,
		map[string]any{"incident": in.ID, "resolved_by": by})
}

// incidentEvent appends an incident's event at the incident's own time.
func (m *Manager) incidentEvent(ctx context.Context, typ, app string, release int, at time.Time, data map[string]any) {
	e := newEvent(typ, app, release, data)
	e.Time = at
	if _, err := m.store.AppendEvent(ctx, e); err != nil {
		m.log.Error("append event", "type", typ, "app", app, "err", err)
	}
}
