package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/bots"
	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// Source is what a deploy starts from: a tree of files, and where it came from.
type Source struct {
	Kind    string // "git" or "deploy"
	Commit  string
	Branch  string
	Archive io.Reader // gzip-compressed tar of the tree
	// ExpectChanges name endpoints whose answers the release changes on
	// purpose (see ExpectChangeTrailer); the commit's trailers add to them.
	ExpectChanges []string
}

// Error is a deploy that ended without a live release. The release it created, if
// any, is recorded with status failed and these reasons.
type Error struct {
	Release store.Release
	Reason  string
}

func (e *Error) Error() string {
	switch {
	case e.Release.Version == 0:
		return e.Reason
	case e.Release.Status == store.StatusRejected:
		return fmt.Sprintf("release v%d was rejected: %s", e.Release.Version, e.Reason)
	}
	return fmt.Sprintf("release v%d failed: %s", e.Release.Version, e.Reason)
}

// buildEnvFile keeps the environment a build asks for (PYTHONPATH, say) inside the
// artifact, so every later start of the release gets it too.
const buildEnvFile = ".prosper/build-env.json"

// Deploy builds src into a new release of app, starts it, waits for it to be
// healthy and switches the router to it. Progress goes to out, line by line. The
// live release is untouched unless the new one becomes live.
func (m *Manager) Deploy(ctx context.Context, app string, src Source, out io.Writer) (store.Release, error) {
	a, err := m.store.GetApp(ctx, app)
	if err != nil {
		return store.Release{}, err
	}
	unlock, err := m.lock(ctx, app)
	if err != nil {
		return store.Release{}, err
	}
	defer unlock()

	cfgVars, err := m.store.Config(ctx, app)
	if err != nil {
		return store.Release{}, err
	}
	rel, err := m.store.CreateRelease(ctx, store.Release{
		App: app, Status: store.StatusBuilding, Source: src.Kind, Commit: src.Commit,
		Branch: src.Branch, Env: cfgVars, Reasons: []string{}, Replicas: 1,
	})
	if err != nil {
		return store.Release{}, err
	}
	rel.Phases = map[string]float64{}
	m.event(ctx, "deploy.started", app, rel.Version, map[string]string{"source": src.Kind, "commit": src.Commit, "branch": src.Branch})
	what := src.Kind
	if src.Commit != "" {
		what = "commit " + short(src.Commit)
	}
	say(out, "-----> prosper: building %s v%d from %s", app, rel.Version, what)

	// Receive: unpack the tree where the release will live.
	started := time.Now()
	dir := m.releaseDir(app, rel.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m.fail(ctx, rel, "receive", fmt.Sprintf("create release dir: %v", err), out)
	}
	if err := build.Unpack(src.Archive, dir); err != nil {
		return m.fail(ctx, rel, "receive", fmt.Sprintf("unpack source: %v", err), out)
	}
	rel.Phases["receive"] = seconds(time.Since(started))

	cfg, err := appconfig.Load(dir)
	if err != nil {
		return m.fail(ctx, rel, "build", err.Error(), out)
	}
	scenarios, err := bots.Load(dir, cfg.Bots)
	if err != nil {
		return m.fail(ctx, rel, "build", err.Error(), out)
	}
	// Team and domains change with the release that brings them: checked now,
	// so that a domain conflict does not wait for the build, stored at the switch.
	adopted, adopt, err := m.appConfig(ctx, a, cfg)
	if err != nil {
		return m.fail(ctx, rel, "build", err.Error(), out)
	}

	// Build, keeping the log beside the release.
	started = time.Now()
	rel.BuildLog = dir + ".build.log"
	logFile, err := os.Create(rel.BuildLog)
	if err != nil {
		return m.fail(ctx, rel, "build", fmt.Sprintf("create build log: %v", err), out)
	}
	res, err := m.builder.Build(ctx, build.Request{App: app, Dir: dir, Config: cfg, Log: multiWriter(logFile, out)})
	logFile.Close()
	rel.Phases["build"] = seconds(time.Since(started))
	if err != nil {
		return m.fail(ctx, rel, "build", err.Error(), out)
	}
	if len(res.Env) > 0 {
		if err := writeBuildEnv(dir, res.Env); err != nil {
			return m.fail(ctx, rel, "build", err.Error(), out)
		}
	}
	say(out, "-----> built in %.1fs (%s); run: %s", rel.Phases["build"], res.Kind, res.Command)

	rel.Artifact = dir
	rel.Command = res.Command
	rel.HealthPath = cfg.Health
	rel.Replicas = max(cfg.Replicas, 1)
	rel.Status = store.StatusVerifying
	if err := m.store.UpdateRelease(ctx, rel); err != nil {
		return m.fail(ctx, rel, "build", err.Error(), out)
	}
	m.event(ctx, "build.succeeded", app, rel.Version, map[string]any{"seconds": rel.Phases["build"], "kind": res.Kind})

	// Mirror production: a release replacing a live one proves itself first.
	live, err := m.store.LiveRelease(ctx, app)
	switch {
	case errors.Is(err, store.ErrNotFound):
		say(out, "-----> v%d is %s's first release: nothing to compare it with, it goes live once healthy", rel.Version, app)
	case err != nil:
		return m.fail(ctx, rel, "verify", err.Error(), out)
	default:
		started = time.Now()
		expect := slices.Clone(src.ExpectChanges)
		if src.Commit != "" {
			if c, err := m.store.GetCommit(ctx, app, src.Commit); err == nil {
				expect = append(expect, expectedChanges(c.Message)...)
			}
		}
		rep, err := m.verifyCandidate(ctx, a, &rel, live, cfg, scenarios, expect, out)
		rel.Phases["verify"] = seconds(time.Since(started))
		if err != nil {
			phase := "verify"
			if pe, ok := errors.AsType[*phaseError](err); ok {
				phase = pe.phase
			}
			return m.fail(ctx, rel, phase, err.Error(), out)
		}
		if rel.Verification, err = json.Marshal(rep); err != nil {
			return m.fail(ctx, rel, "verify", err.Error(), out)
		}
		m.event(ctx, "verify.verdict", app, rel.Version, map[string]any{
			"passed": rep.Verdict.Passed, "decided_by": rep.DecidedBy, "reasons": rep.Verdict.Reasons,
			"gates": rep.Verdict.Gates, "live": live.Version, "seconds": rel.Phases["verify"]})
		if !rep.Verdict.Passed {
			return m.reject(ctx, rel, rep, out)
		}
		say(out, "-----> PROMOTED v%d: %s", rel.Version, verdictLine(rep))
		if err := m.store.UpdateRelease(ctx, rel); err != nil {
			return m.fail(ctx, rel, "verify", err.Error(), out)
		}
	}

	if err := m.startAndWait(ctx, &rel, healthTimeout(cfg, m.opts.HealthTimeout), out); err != nil {
		return m.fail(ctx, rel, "health", err.Error(), out)
	}
	if len(cfg.Verify.Steps) > 0 && live.Version > 0 {
		started = time.Now()
		reason, err := m.promoteInSteps(ctx, rel, live, cfg, out)
		rel.Phases["steps"] = seconds(time.Since(started))
		if err != nil {
			return m.fail(ctx, rel, "steps", err.Error(), out)
		}
		if reason != "" {
			// Users were served by it: the steps' figures are a verdict too.
			m.stopDrained(context.WithoutCancel(ctx), app, rel.Version)
			return m.reject(ctx, rel, Report{Live: live.Version, DecidedBy: "steps",
				Verdict: verify.Verdict{Reasons: []string{reason}}}, out)
		}
	}
	started = time.Now()
	if adopt {
		// Before the switch: the route table is made from the stored app.
		if err := m.store.UpdateApp(ctx, adopted); err != nil {
			return m.fail(ctx, rel, "switch", err.Error(), out)
		}
	}
	prev, err := m.switchTo(ctx, app, rel.Version, store.StatusSuperseded)
	if err != nil {
		if adopt {
			// The app's hosts go back to what the live release serves.
			rctx := context.WithoutCancel(ctx)
			if rerr := m.store.UpdateApp(rctx, a); rerr != nil {
				m.log.Error("restore app after a failed switch", "app", app, "err", rerr)
			} else if rerr := m.SyncRoutes(rctx); rerr != nil {
				m.log.Error("restore routes after a failed switch", "app", app, "err", rerr)
			}
		}
		return m.fail(ctx, rel, "switch", err.Error(), out)
	}
	rel.Phases["switch"] = seconds(time.Since(started))
	rel, err = m.finishLive(ctx, rel)
	if err != nil {
		return rel, err
	}
	m.event(ctx, "release.promoted", app, rel.Version, map[string]any{
		"commit": rel.Commit, "previous": prev.Version, "phases": rel.Phases, "source": src.Kind})
	say(out, "-----> v%d is live at %s", rel.Version, m.URL(app))
	if prev.Version > 0 {
		m.startGrace(rel, prev, cfg)
	} else {
		m.startLiveWatch(rel) // its bots, if it has some
	}
	return rel, nil
}

// reject records a release that failed mirror production and tells the person
// waiting why. The live release was never touched.
func (m *Manager) reject(ctx context.Context, rel store.Release, rep Report, out io.Writer) (store.Release, error) {
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	rel.Status = store.StatusRejected
	rel.Reasons = append(rel.Reasons, rep.Verdict.Reasons...)
	rel.FinishedAt = ptr(now())
	if err := m.store.UpdateRelease(ctx, rel); err != nil {
		m.log.Error("record rejected release", "app", rel.App, "release", rel.Version, "err", err)
	}
	m.event(ctx, "release.rejected", rel.App, rel.Version, map[string]any{
		"reasons": rep.Verdict.Reasons, "live": rep.Live, "decided_by": rep.DecidedBy})
	if rep.DecidedBy == "steps" {
		say(out, "-----> REJECTED v%d during its promotion steps; v%d is live again:", rel.Version, rep.Live)
	} else {
		say(out, "-----> REJECTED v%d in mirror production (%s); v%d stays live:", rel.Version, verdictLine(rep), rep.Live)
	}
	for _, r := range rep.Verdict.Reasons {
		say(out, "       - %s", r)
	}
	reasons := rep.Verdict.Reasons
	if len(reasons) > 3 {
		reasons = reasons[:3]
	}
	return rel, &Error{Release: rel, Reason: "rejected in mirror production: " + strings.Join(reasons, "; ")}
}

// verdictLine sums up a verification's figures.
func verdictLine(rep Report) string {
	f := rep.Figures
	runs, passed := 0, 0
	for _, b := range f.Bots {
		runs += b.CandidateRuns
		passed += b.CandidateRuns - b.CandidateFails
	}
	return fmt.Sprintf("%d requests compared in %.1fs, %d differ; errors %s (live %s); p99 %.1f ms (live %.1f ms); bots %d/%d passed",
		rep.Differences.Total, rep.ElapsedSeconds, rep.Differences.Differing, verify.Pct(f.CandidateErrorRate),
		verify.Pct(f.LiveErrorRate), f.Candidate.P99, f.Live.P99, passed, runs)
}

// finishLive records the phases of a release that just went live.
func (m *Manager) finishLive(ctx context.Context, rel store.Release) (store.Release, error) {
	fresh, err := m.store.GetRelease(ctx, rel.App, rel.Version)
	if err != nil {
		return rel, err
	}
	fresh.Phases = rel.Phases
	fresh.Verification = rel.Verification
	if err := m.store.UpdateRelease(ctx, fresh); err != nil {
		return fresh, err
	}
	return fresh, nil
}

// appConfig returns the app with the team and domains of prosper.yaml, and
// whether that changes it. A domain another app serves is an error.
func (m *Manager) appConfig(ctx context.Context, a store.App, cfg appconfig.Config) (store.App, bool, error) {
	changed := false
	if cfg.Team != "" && cfg.Team != a.Team {
		a.Team, changed = cfg.Team, true
	}
	if cfg.Domains != nil && strings.Join(cfg.Domains, ",") != strings.Join(a.Domains, ",") {
		apps, err := m.store.ListApps(ctx)
		if err != nil {
			return a, false, err
		}
		for _, other := range apps {
			for _, d := range other.Domains {
				for _, want := range cfg.Domains {
					if other.Name != a.Name && strings.EqualFold(d, want) {
						return a, false, fmt.Errorf("prosper.yaml: domain %q is already served by app %q: remove it there first", want, other.Name)
					}
				}
			}
		}
		a.Domains, changed = cfg.Domains, true
	}
	return a, changed, nil
}

// fail records why a release did not go live, stops what it started and tells the
// person waiting. The live release is not touched.
func (m *Manager) fail(ctx context.Context, rel store.Release, phase, reason string, out io.Writer) (store.Release, error) {
	if ctx.Err() != nil {
		// The deploy was cancelled (the platform is stopping): record it with a
		// context that still works.
		ctx = context.WithoutCancel(ctx)
	}
	_ = m.runtime.Stop(ctx, WorkloadID(rel.App, rel.Version))
	rel.Status = store.StatusFailed
	rel.Reasons = append(rel.Reasons, reason)
	rel.FinishedAt = ptr(now())
	if err := m.store.UpdateRelease(ctx, rel); err != nil {
		m.log.Error("record failed release", "app", rel.App, "release", rel.Version, "err", err)
	}
	typ := "release.failed"
	if phase == "build" || phase == "receive" {
		typ = "build.failed"
	}
	m.event(ctx, typ, rel.App, rel.Version, map[string]string{"phase": phase, "reason": reason})
	say(out, "-----> v%d failed: %s", rel.Version, reason)
	if live, err := m.store.LiveRelease(ctx, rel.App); err == nil {
		say(out, "-----> v%d is still live at %s", live.Version, m.URL(rel.App))
	}
	return rel, &Error{Release: rel, Reason: reason}
}

// healthTimeout is the health_timeout of prosper.yaml, or def when it sets none.
// appconfig fills a missing health_timeout with its default, so that value
// counts as not set: taking it would make Options.HealthTimeout useless.
func healthTimeout(cfg appconfig.Config, def time.Duration) time.Duration {
	if d := cfg.HealthTimeout.Duration(); d > 0 && d != appconfig.Default().HealthTimeout.Duration() {
		return d
	}
	return def
}

func writeBuildEnv(dir string, env map[string]string) error {
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, buildEnvFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readBuildEnv(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, buildEnvFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var env map[string]string
	return env, json.Unmarshal(b, &env)
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// multiWriter writes to every writer that is not nil, ignoring the errors of all
// but the first: a pusher that hung up must not fail the build log.
func multiWriter(file io.Writer, out io.Writer) io.Writer {
	if out == nil {
		return file
	}
	return &teeWriter{file: file, out: out}
}

type teeWriter struct {
	file, out io.Writer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.file.Write(p)
	_, _ = t.out.Write(p)
	return n, err
}
