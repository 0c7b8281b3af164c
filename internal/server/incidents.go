package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

// IncidentRequest is the body of POST /api/incidents: a person opens an
// incident (cause manual), optionally naming the release that caused it.
type IncidentRequest struct {
	App     string `json:"app"`
	Title   string `json:"title"`
	Release int    `json:"release,omitempty"`
	Details string `json:"details,omitempty"`
}

// ResolveIncidentRequest is the body of POST /api/incidents/{id}/resolve;
// ResolvedBy is the release that resolved the incident (0 when unknown).
type ResolveIncidentRequest struct {
	ResolvedBy int `json:"resolved_by,omitempty"`
}

// handleOpenIncident opens an incident by hand and appends its incident.opened
// event, which the delivery readings count.
func (s *Server) handleOpenIncident(w http.ResponseWriter, r *http.Request) {
	var req IncidentRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not valid JSON: "+err.Error(), "")
		return
	}
	if req.App == "" {
		writeError(w, http.StatusBadRequest, "which app? the request has no app", "")
		return
	}
	if _, err := s.store.GetApp(r.Context(), req.App); err != nil {
		writeStoreError(w, req.App, err)
		return
	}
	if strings.TrimSpace(req.Title) == "" {
		writeError(w, http.StatusBadRequest, "the incident has no title", "say what is broken, e.g. --title \"checkout answers 500\"")
		return
	}
	if !s.releaseExists(r.Context(), w, req.App, req.Release) {
		return
	}
	in, err := s.store.OpenIncident(r.Context(), store.Incident{App: req.App, Title: req.Title, Cause: store.CauseManual,
		Release: req.Release, Details: req.Details})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	s.incidentEvent(r.Context(), "incident.opened", in.App, in.Release, in.OpenedAt,
		map[string]any{"incident": in.ID, "cause": in.Cause, "title": in.Title})
	writeJSON(w, http.StatusCreated, in)
}

// handleResolveIncident resolves an open incident and appends its
// incident.resolved event.
func (s *Server) handleResolveIncident(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "incident "+strconv.Quote(raw)+" is not an incident number", "list them with: prosper incident list")
		return
	}
	var req ResolveIncidentRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the request body is not valid JSON: "+err.Error(), "")
			return
		}
	}
	in, err := s.store.GetIncident(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("there is no incident %d", id), "list them with: prosper incident list")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if in.ResolvedAt != nil {
		writeError(w, http.StatusConflict, alreadyResolved(in), "")
		return
	}
	if !s.releaseExists(r.Context(), w, in.App, req.ResolvedBy) {
		return
	}
	in, err = s.store.ResolveIncident(r.Context(), id, req.ResolvedBy, time.Time{})
	if errors.Is(err, store.ErrInvalid) {
		// Resolved in the meantime, by prosper or another person.
		if cur, gerr := s.store.GetIncident(r.Context(), id); gerr == nil && cur.ResolvedAt != nil {
			writeError(w, http.StatusConflict, alreadyResolved(cur), "")
			return
		}
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	s.incidentEvent(r.Context(), "incident.resolved", in.App, in.ResolvedBy, *in.ResolvedAt,
		map[string]any{"incident": in.ID, "resolved_by": in.ResolvedBy})
	writeJSON(w, http.StatusOK, in)
}

func alreadyResolved(in store.Incident) string {
	msg := fmt.Sprintf("incident %d of %s was resolved already, at %s", in.ID, in.App, in.ResolvedAt.Format(time.RFC3339))
	if in.ResolvedBy > 0 {
		msg += fmt.Sprintf(" by v%d", in.ResolvedBy)
	}
	return msg
}

// releaseExists answers 400 and false when version (0: none) is not a release
// of app.
func (s *Server) releaseExists(ctx context.Context, w http.ResponseWriter, app string, version int) bool {
	if version == 0 {
		return true
	}
	if version < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("release %d is not a version", version), "")
		return false
	}
	_, err := s.store.GetRelease(ctx, app, version)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s has no release v%d", app, version), "see its releases with: prosper releases "+app)
		return false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return false
	}
	return true
}

// incidentEvent appends the event of an incident: the delivery readings are
// computed from the event log alone.
func (s *Server) incidentEvent(ctx context.Context, typ, app string, release int, at time.Time, data map[string]any) {
	b, _ := json.Marshal(data)
	if _, err := s.store.AppendEvent(ctx, store.Event{Type: typ, App: app, Release: release, Time: at, Data: b}); err != nil {
		s.log.Error("append event", "type", typ, "app", app, "err", err)
	}
}

// handleIncidents lists incidents, newest first. Query: app, open=true, since
// (30d, 72h, 90m), limit (default 200).
func (s *Server) handleIncidents(w http.ResponseWriter, r *http.Request) {
	q := store.IncidentQuery{App: r.URL.Query().Get("app"), Open: r.URL.Query().Get("open") == "true", Limit: 200}
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := api.ParseWindow(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "")
			return
		}
		q.Since = time.Now().Add(-d)
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit "+strconv.Quote(v)+" is not a positive number", "")
			return
		}
		q.Limit = n
	}
	list, err := s.store.Incidents(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	if list == nil {
		list = []store.Incident{}
	}
	writeJSON(w, http.StatusOK, list)
}
