package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// appName is a DNS label, so that NAME.localhost and NAME-vN work everywhere,
// Kubernetes object names included.
var appName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,38}[a-z0-9]$`)

func validAppName(name string) error {
	if !appName.MatchString(name) {
		return fmt.Errorf("app name %q is not valid: use 2 to 40 lowercase letters, digits and dashes, starting with a letter (e.g. shop-api)", name)
	}
	return nil
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Info{Version: s.cfg.Version, RouterURL: s.routerURL, StartedAt: s.startedAt})
}

func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request) {
	var req api.CreateAppRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not valid JSON: "+err.Error(), "")
		return
	}
	if err := validAppName(req.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	a, err := s.store.CreateApp(r.Context(), store.App{Name: req.Name, Team: req.Team})
	if err != nil {
		writeStoreError(w, req.Name, err)
		return
	}
	if err := s.initRepo(r.Context(), a.Name); err != nil {
		_ = s.store.DeleteApp(r.Context(), a.Name)
		writeError(w, http.StatusInternalServerError, "create git repository: "+err.Error(), "")
		return
	}
	s.appendEvent(r.Context(), "app.created", a.Name, map[string]string{"team": a.Team})
	if err := s.rollout.SyncRoutes(r.Context()); err != nil {
		s.log.Warn("sync routes", "err", err)
	}
	writeJSON(w, http.StatusCreated, s.view(r.Context(), a, nil))
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.store.ListApps(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	workloads, _ := s.node.List(r.Context())
	views := make([]api.AppView, 0, len(apps))
	for _, a := range apps {
		views = append(views, s.view(r.Context(), a, workloads))
	}
	writeJSON(w, http.StatusOK, views)
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.GetApp(r.Context(), r.PathValue("app"))
	if err != nil {
		writeStoreError(w, r.PathValue("app"), err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), a, nil))
}

func (s *Server) handleDeleteApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if err := s.rollout.DeleteApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	_ = os.RemoveAll(s.repoDir(name))
	// The app is gone: its metrics history too, so that a new app of the same
	// name starts with empty charts.
	if err := s.series.DeleteApp(r.Context(), name); err != nil {
		s.log.Warn("delete the metrics history of a deleted app", "app", name, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

// view describes an app for listings. workloads may be nil; they are then fetched.
func (s *Server) view(ctx context.Context, a store.App, workloads []runtime.Status) api.AppView {
	v := api.AppView{App: a, GitURL: s.URL() + "/git/" + a.Name + ".git", URL: s.rollout.URL(a.Name), State: "new"}
	if v.Domains == nil {
		v.Domains = []string{}
	}
	live, err := s.store.LiveRelease(ctx, a.Name)
	if err != nil {
		return v
	}
	v.LiveRelease = live.Version
	if workloads == nil {
		workloads, _ = s.node.List(ctx)
	}
	v.State = "stopped"
	for _, st := range workloads {
		if st.ID != rollout.WorkloadID(a.Name, live.Version) {
			continue
		}
		switch {
		case st.Ready():
			v.State = "running"
		case st.CrashLooping():
			v.State = "crash-looping"
		default:
			v.State = "starting"
		}
	}
	return v
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	a, err := s.store.GetApp(r.Context(), name)
	if err != nil {
		writeStoreError(w, name, err)
		return
	}
	all, err := s.node.List(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	sv := api.StatusView{App: s.view(r.Context(), a, all), Workloads: []runtime.Status{}}
	for _, st := range all {
		if st.App == name {
			sv.Workloads = append(sv.Workloads, st)
		}
	}
	if live, err := s.store.LiveRelease(r.Context(), name); err == nil {
		sv.Live = &live
		for _, st := range sv.Workloads {
			if st.Release == live.Version && st.CrashLooping() {
				sv.Problem = fmt.Sprintf("v%d is crash-looping: %s", live.Version, rollout.CrashWords(st))
			}
		}
		if sv.App.State == "stopped" {
			sv.Problem = fmt.Sprintf("v%d is live but its processes are not running: restart the platform with prosper up", live.Version)
		}
	}
	if rels, err := s.store.ReleasesInStatus(r.Context(), store.StatusBuilding, store.StatusVerifying); err == nil {
		for _, rel := range rels {
			if rel.App == name {
				sv.Deploying = &rel
			}
		}
	}
	writeJSON(w, http.StatusOK, sv)
}

func (s *Server) handleReleases(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	rels, err := s.store.ListReleases(r.Context(), name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if rels == nil {
		rels = []store.Release{}
	}
	writeJSON(w, http.StatusOK, rels)
}

func (s *Server) handleBuildLog(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "release must be a number, as in v3 or 3", "")
		return
	}
	rel, err := s.store.GetRelease(r.Context(), name, v)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s has no release v%d", name, v), "see prosper releases "+name)
		return
	}
	if rel.BuildLog == "" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("v%d has no build log", v), "")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	http.ServeFile(w, r, rel.BuildLog)
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	vars, err := s.store.Config(r.Context(), name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if vars == nil {
		vars = map[string]string{}
	}
	writeJSON(w, http.StatusOK, vars)
}

func (s *Server) handleCommits(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	commits, err := s.store.ListCommits(r.Context(), name, 1000)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if commits == nil {
		commits = []store.Commit{}
	}
	writeJSON(w, http.StatusOK, commits)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := store.EventQuery{App: r.URL.Query().Get("app"), Limit: 500}
	if v := r.URL.Query().Get("after"); v != "" {
		q.AfterID, _ = strconv.ParseInt(v, 10, 64)
	}
	evs, err := s.store.Events(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}

func (s *Server) appendEvent(ctx context.Context, typ, app string, data any) {
	e := store.Event{Type: typ, App: app}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	if _, err := s.store.AppendEvent(ctx, e); err != nil {
		s.log.Error("append event", "type", typ, "err", err)
	}
}
