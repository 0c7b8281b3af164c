package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/store"
)

// The pre-receive hook (`prosper hook pre-receive`, run by git receive-pack) calls
// back into the control plane with a token that lives only as long as this server
// process and only in the environment of git processes it started.

func (s *Server) requireHookToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(s.hookToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "not a hook of this server", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// HookPush is what the hook reports of one pushed ref.
type HookPush struct {
	Branch  string         `json:"branch"`
	Old     string         `json:"old"`
	New     string         `json:"new"`
	Commits []store.Commit `json:"commits"`
}

func (s *Server) handleHookCommits(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var p HookPush
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	now := time.Now().UTC()
	for i := range p.Commits {
		p.Commits[i].App = app
		p.Commits[i].Branch = p.Branch
		p.Commits[i].PushedAt = now
	}
	if err := s.store.RecordCommits(r.Context(), p.Commits); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	s.appendEvent(r.Context(), "push.received", app, map[string]any{
		"branch": p.Branch, "old": p.Old, "new": p.New, "commits": len(p.Commits)})
	writeJSON(w, http.StatusOK, map[string]int{"recorded": len(p.Commits)})
}

func (s *Server) hookDeployHandler(base context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer closeBody(r)
		app := r.PathValue("app")
		src := rollout.Source{Kind: "git", Commit: r.URL.Query().Get("commit"), Branch: r.URL.Query().Get("branch"),
			ExpectChanges: r.URL.Query()["expect_change"],
			Archive:       http.MaxBytesReader(w, r.Body, maxSourceBytes)}
		s.runDeploy(base, w, app, src)
	}
}
