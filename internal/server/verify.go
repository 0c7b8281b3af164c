package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/store"
)

// handleVerifyStatus answers the app's verification in progress, or the report
// of its latest verified release.
func (s *Server) handleVerifyStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	rep, err := s.rollout.VerifyStatus(r.Context(), name)
	if err != nil {
		if _, gerr := s.store.GetApp(r.Context(), name); gerr != nil {
			writeStoreError(w, name, gerr)
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, err.Error(), "git push a second release: it is verified against the first")
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// handleVerifyCommand sends pause, resume, promote or abort to the app's
// verification in progress.
func (s *Server) handleVerifyCommand(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("app"), r.PathValue("action")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	err := s.rollout.VerifyCommand(name, action)
	switch {
	case errors.Is(err, rollout.ErrNotVerifying):
		writeError(w, http.StatusConflict, err.Error(), "see the last verdict with: prosper verify status "+name)
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error(), "")
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"app": name, "command": action})
	}
}

// handleBotRuns lists the app's recorded bot journeys, newest first.
// Query: target (live or candidate), release, failed=true, limit (default 100).
func (s *Server) handleBotRuns(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	q := store.BotRunQuery{App: name, Target: r.URL.Query().Get("target"), Scenario: r.URL.Query().Get("scenario"),
		FailedOnly: r.URL.Query().Get("failed") == "true", Limit: 100}
	if v := r.URL.Query().Get("release"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "release "+strconv.Quote(v)+" is not a number", "")
			return
		}
		q.Release = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit "+strconv.Quote(v)+" is not a positive number", "")
			return
		}
		q.Limit = n
	}
	runs, err := s.store.BotRuns(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if runs == nil {
		runs = []store.BotRun{}
	}
	writeJSON(w, http.StatusOK, runs)
}
