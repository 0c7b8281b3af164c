package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/ui"
)

// mountUI serves the web UI on mux beside the API. The UI's scripts read the
// API through mux itself, with the session's token, so they see exactly what
// the CLI sees; its pages read the store through uiSource.
func (s *Server) mountUI(ctx context.Context, mux *http.ServeMux) {
	h := ui.New(ui.Options{Source: uiSource{s: s, base: ctx}, API: mux, Logger: s.log,
		About: func() ui.About { return ui.About{Version: s.cfg.Version, APIURL: s.URL(), RouterURL: s.routerURL} }})
	for _, p := range ui.Patterns() {
		mux.Handle(p, h)
	}
}

// uiSource gives the UI its data from the store and the rollout manager.
type uiSource struct {
	s    *Server
	base context.Context // actions run under the server's context, not the request's
}

var _ ui.Source = uiSource{}

func (u uiSource) Authenticate(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	_, ok, err := u.s.store.Authenticate(ctx, token)
	return ok, err
}

func (u uiSource) Apps(ctx context.Context) ([]ui.AppSummary, error) {
	apps, err := u.s.store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	workloads, _ := u.s.node.List(ctx)
	verifying := u.verifying(ctx)
	out := make([]ui.AppSummary, 0, len(apps))
	for _, a := range apps {
		v := u.s.view(ctx, a, workloads)
		out = append(out, ui.AppSummary{Name: a.Name, Team: a.Team, State: v.State, Live: v.LiveRelease,
			Verifying: verifying[a.Name], URL: v.URL})
	}
	return out, nil
}

// verifying maps each app to its release in mirror verification.
func (u uiSource) verifying(ctx context.Context) map[string]int {
	m := map[string]int{}
	rels, _ := u.s.store.ReleasesInStatus(ctx, store.StatusVerifying)
	for _, r := range rels {
		m[r.App] = r.Version
	}
	return m
}

// timelineTypes are the events an app's timeline shows.
var timelineTypes = []string{"deploy.started", "build.failed", "release.failed", "verify.started", "verify.verdict",
	"release.promoted", "release.rejected", "release.rolled_back", "release.trusted", "release.unjudged", "incident.opened",
	"incident.resolved", "config.changed", "push.received"}

// timelineLen is how many of the newest events the timeline shows.
const timelineLen = 60

func (u uiSource) AppPage(ctx context.Context, name string) (ui.AppPage, error) {
	a, err := u.s.store.GetApp(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return ui.AppPage{}, ui.ErrNotFound
	}
	if err != nil {
		return ui.AppPage{}, err
	}
	v := u.s.view(ctx, a, nil)
	p := ui.AppPage{App: ui.AppSummary{Name: a.Name, Team: a.Team, State: v.State, Live: v.LiveRelease,
		Verifying: u.verifying(ctx)[a.Name], URL: v.URL}}
	rels, err := u.recentReleases(ctx, name, v.LiveRelease, 30)
	if err != nil {
		return p, err
	}
	commits, _ := u.s.store.ListCommits(ctx, name, 200)
	messages := map[string]string{}
	for _, c := range commits {
		messages[c.SHA], _, _ = strings.Cut(c.Message, "\n")
	}
	for _, r := range rels {
		p.Releases = append(p.Releases, ui.Release{Version: r.Version, Status: r.Status, Source: r.Source, Commit: r.Commit,
			Message: messages[r.Commit], Reasons: r.Reasons, CreatedAt: r.CreatedAt})
	}
	if p.Timeline, err = u.timeline(ctx, name); err != nil {
		return p, err
	}
	if p.Config, err = u.s.store.Config(ctx, name); err != nil {
		return p, err
	}
	return p, nil
}

// recentReleases reads the app's n newest releases, newest first. Versions are
// numbered 1, 2, 3 ... per app, so it reads them one by one from the newest
// rather than the app's whole history, which a busy year makes thousands long.
func (u uiSource) recentReleases(ctx context.Context, app string, live, n int) ([]store.Release, error) {
	if live == 0 {
		rels, err := u.s.store.ListReleases(ctx, app)
		slices.SortFunc(rels, func(a, b store.Release) int { return b.Version - a.Version })
		return rels[:min(len(rels), n)], err
	}
	var out []store.Release
	top := live
	for ; ; top++ { // releases after the live one: rejected, failed or in progress
		r, err := u.s.store.GetRelease(ctx, app, top+1)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append([]store.Release{r}, out...)
	}
	for v := live; v >= 1 && len(out) < n; v-- {
		r, err := u.s.store.GetRelease(ctx, app, v)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out[:min(len(out), n)], nil
}

// timeline reads the app's newest events. The store answers the oldest first,
// so it looks back over a widening window until it has enough: a year of
// history costs one small query when the app is busy.
func (u uiSource) timeline(ctx context.Context, app string) ([]ui.Event, error) {
	var evs []store.Event
	for _, back := range []time.Duration{7 * 24 * time.Hour, 90 * 24 * time.Hour, 5 * 365 * 24 * time.Hour} {
		var err error
		evs, err = u.s.store.Events(ctx, store.EventQuery{App: app, Types: timelineTypes, Since: time.Now().Add(-back)})
		if err != nil {
			return nil, err
		}
		if len(evs) >= timelineLen {
			break
		}
	}
	evs = evs[max(0, len(evs)-timelineLen):]
	out := make([]ui.Event, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		out = append(out, ui.Event{Time: e.Time, Type: e.Type, Release: e.Release, Detail: eventDetail(e.Data)})
	}
	return out, nil
}

// eventDetail says in a line what an event's data holds that a person reads.
func eventDetail(data json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"title", "reason", "by", "source", "decided_by"} {
		if v, ok := d[k].(string); ok && v != "" {
			parts = append(parts, v)
		}
	}
	if v, ok := d["passed"].(bool); ok {
		parts = append(parts, map[bool]string{true: "passed", false: "failed"}[v])
	}
	if rs, ok := d["reasons"].([]any); ok {
		for _, r := range rs {
			parts = append(parts, fmt.Sprint(r))
		}
	}
	if c, ok := d["commit"].(string); ok && c != "" {
		parts = append(parts, c[:min(len(c), 8)])
	}
	return strings.Join(parts, " · ")
}

func (u uiSource) Incidents(ctx context.Context, apps []string, limit int) ([]ui.Incident, error) {
	var out []ui.Incident
	for _, app := range apps {
		ins, err := u.s.store.Incidents(ctx, store.IncidentQuery{App: app, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			out = append(out, ui.Incident{ID: in.ID, App: in.App, Title: in.Title, Cause: in.Cause, Release: in.Release,
				ResolvedBy: in.ResolvedBy, OpenedAt: in.OpenedAt, ResolvedAt: in.ResolvedAt})
		}
	}
	slices.SortFunc(out, func(a, b ui.Incident) int { return b.OpenedAt.Compare(a.OpenedAt) })
	return out[:min(len(out), limit)], nil
}

func (u uiSource) Rollback(ctx context.Context, app string) (string, error) {
	if _, err := u.s.store.GetApp(ctx, app); err != nil {
		return "", err
	}
	rel, instant, err := u.s.rollout.Rollback(u.base, app, 0, io.Discard)
	if err != nil {
		return "", err
	}
	how := "restarted"
	if instant {
		how = "still warm: instant"
	}
	return fmt.Sprintf("Rolled back: v%d is live again (%s).", rel.Version, how), nil
}
