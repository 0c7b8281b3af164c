package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/store"
)

// ErrNothingToRollBack is returned when the app has no earlier release that ever
// ran.
var ErrNothingToRollBack = errors.New("no earlier release to roll back to")

// Rollback makes an earlier release live again: version, or with 0 the release
// that was live before the current one. It is instant when that release is still
// warm; otherwise it is started and health-checked first. It reports whether the
// switch was instant.
func (m *Manager) Rollback(ctx context.Context, app string, version int, out io.Writer) (store.Release, bool, error) {
	rel, instant, err := m.rollback(ctx, app, version, "by hand", out)
	if err == nil {
		m.startLiveWatch(rel)
	}
	return rel, instant, err
}

// rollback is Rollback with the reason recorded in its event.
func (m *Manager) rollback(ctx context.Context, app string, version int, reason string, out io.Writer) (store.Release, bool, error) {
	if _, err := m.store.GetApp(ctx, app); err != nil {
		return store.Release{}, false, err
	}
	unlock, err := m.lock(ctx, app)
	if err != nil {
		return store.Release{}, false, err
	}
	defer unlock()

	live, err := m.store.LiveRelease(ctx, app)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Release{}, false, err
	}
	target, err := m.rollbackTarget(ctx, app, version, live)
	if err != nil {
		return store.Release{}, false, err
	}

	st, err := m.workload(ctx, WorkloadID(app, target.Version))
	instant := err == nil && st.Ready()
	if instant {
		say(out, "-----> v%d is still warm: switching now", target.Version)
	} else {
		say(out, "-----> v%d is not running any more: starting it", target.Version)
		cfg, err := appconfig.Load(target.Artifact)
		if err != nil {
			return store.Release{}, false, err
		}
		if err := m.startAndWait(ctx, &target, healthTimeout(cfg, m.opts.HealthTimeout), out); err != nil {
			_ = m.runtime.Stop(context.WithoutCancel(ctx), WorkloadID(app, target.Version))
			return store.Release{}, false, fmt.Errorf("roll back to v%d: %w", target.Version, err)
		}
	}
	if _, err := m.switchTo(ctx, app, target.Version, store.StatusRolledBack); err != nil {
		return store.Release{}, false, err
	}
	m.event(ctx, "release.rolled_back", app, target.Version, map[string]any{
		"from": live.Version, "to": target.Version, "instant": instant, "reason": reason})
	say(out, "-----> rolled back %s to v%d (%s)", app, target.Version, m.URL(app))
	target, err = m.store.GetRelease(ctx, app, target.Version)
	return target, instant, err
}

func (m *Manager) rollbackTarget(ctx context.Context, app string, version int, live store.Release) (store.Release, error) {
	releases, err := m.store.ListReleases(ctx, app)
	if err != nil {
		return store.Release{}, err
	}
	if version == 0 {
		// The release that was live before the live one: of those that have
		// been live, the last replaced, which is not the newest after a rollback
		// by version (v3 rolled back to v1, then v4 replaced v1). A newer release
		// that was rolled back away from is not a candidate.
		var target store.Release
		for _, r := range releases {
			if r.Version != live.Version && r.LiveAt != nil && r.Artifact != "" &&
				(live.Version == 0 || r.Version < live.Version || r.Status == store.StatusSuperseded) &&
				(target.Version == 0 || replacedAt(r).After(replacedAt(target))) {
				target = r
			}
		}
		if target.Version != 0 {
			return target, nil
		}
		return store.Release{}, fmt.Errorf("%w: %s has %d release(s) and none went live before v%d", ErrNothingToRollBack, app, len(releases), live.Version)
	}
	for _, r := range releases {
		if r.Version != version {
			continue
		}
		if r.Version == live.Version {
			return store.Release{}, fmt.Errorf("v%d is already live", version)
		}
		if r.Artifact == "" && (r.Status == store.StatusSuperseded || r.Status == store.StatusRolledBack) {
			return store.Release{}, fmt.Errorf("the files of v%d were removed (prosper keeps those of the last %d releases): deploy its commit %s again", version, m.opts.KeepReleases, short(r.Commit))
		}
		if r.Artifact == "" || r.Status == store.StatusFailed || r.Status == store.StatusBuilding {
			return store.Release{}, fmt.Errorf("v%d never built successfully (status %s): pick another release from `prosper releases %s`", version, r.Status, app)
		}
		return r, nil
	}
	return store.Release{}, fmt.Errorf("%s has no release v%d: see `prosper releases %s`", app, version, app)
}

// Reconfigure changes the app's config vars. When a release is live, the change
// makes a new release (same artifact, new environment) that goes live like any
// other; otherwise the vars wait for the first deploy.
func (m *Manager) Reconfigure(ctx context.Context, app string, set map[string]string, unset []string, out io.Writer) (store.Release, error) {
	if _, err := m.store.GetApp(ctx, app); err != nil {
		return store.Release{}, err
	}
	unlock, err := m.lock(ctx, app)
	if err != nil {
		return store.Release{}, err
	}
	defer unlock()

	vars, err := m.store.SetConfig(ctx, app, set, unset)
	if err != nil {
		return store.Release{}, err
	}
	m.event(ctx, "config.changed", app, 0, map[string]any{"set": keys(set), "unset": unset})
	live, err := m.store.LiveRelease(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		say(out, "-----> config saved; the first deploy of %s will use it", app)
		return store.Release{}, nil
	}
	if err != nil {
		return store.Release{}, err
	}
	rel, err := m.store.CreateRelease(ctx, store.Release{
		App: app, Status: store.StatusVerifying, Source: "config", Commit: live.Commit, Branch: live.Branch,
		Artifact: live.Artifact, Command: live.Command, HealthPath: live.HealthPath, Replicas: live.Replicas,
		Env: vars, Reasons: []string{}, BuildLog: live.BuildLog,
	})
	if err != nil {
		return store.Release{}, err
	}
	rel.Phases = map[string]float64{}
	m.event(ctx, "deploy.started", app, rel.Version, map[string]string{"source": "config", "commit": rel.Commit})
	say(out, "-----> config changed: releasing %s v%d (artifact of v%d)", app, rel.Version, live.Version)
	cfg, err := appconfig.Load(rel.Artifact)
	if err != nil {
		return m.fail(ctx, rel, "health", err.Error(), out)
	}
	if err := m.startAndWait(ctx, &rel, healthTimeout(cfg, m.opts.HealthTimeout), out); err != nil {
		return m.fail(ctx, rel, "health", err.Error(), out)
	}
	if _, err := m.switchTo(ctx, app, rel.Version, store.StatusSuperseded); err != nil {
		return m.fail(ctx, rel, "switch", err.Error(), out)
	}
	rel, err = m.finishLive(ctx, rel)
	if err != nil {
		return rel, err
	}
	m.event(ctx, "release.promoted", app, rel.Version, map[string]any{"commit": rel.Commit, "previous": live.Version, "source": "config"})
	say(out, "-----> v%d is live at %s", rel.Version, m.URL(app))
	// A config change is not verified in mirror production (the code is the
	// verified one, and a changed variable is meant to change answers), but it
	// is watched like any promotion: a crash or rising errors roll it back.
	m.startGrace(rel, live, cfg)
	return rel, nil
}

// replacedAt is when a release that has been live stopped being live: its
// finished time, set at the switch away from it (its live time if the control
// plane died before recording that).
func replacedAt(r store.Release) time.Time {
	if r.FinishedAt != nil {
		return *r.FinishedAt
	}
	if r.LiveAt != nil {
		return *r.LiveAt
	}
	return r.CreatedAt
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
