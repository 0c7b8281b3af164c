package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prosperhq/prosper/internal/series"
)

// openSeries opens DATA_DIR/series.db, where the collector keeps the metrics
// history.
func (s *Server) openSeries(ctx context.Context) error {
	st, err := series.Open(ctx, filepath.Join(s.cfg.DataDir, "series.db"))
	if err != nil {
		return fmt.Errorf("open metrics history: %w", err)
	}
	s.series = st
	return nil
}

// runSeries collects the node's and the bots' figures every step until ctx
// ends.
func (s *Server) runSeries(ctx context.Context) {
	c := &series.Collector{Store: s.series, Node: s.node, Bots: s.store, Every: s.cfg.SeriesEvery, Logger: s.log}
	c.Run(ctx)
}

// handleSeries answers an app's metrics history:
// GET /api/apps/{app}/series?since=24h[&release=N].
func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	q := r.URL.Query()
	since, sinceText := 24*time.Hour, "24h"
	if v := q.Get("since"); v != "" {
		d, err := series.ParseSince(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), "since takes a duration such as 90m or 24h, or days: 7d, 30d, 365d (at most 730d)")
			return
		}
		since, sinceText = d, v
	}
	release := 0
	if v := q.Get("release"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("release %q is not a release number", v), "pass release=N, e.g. release=3, or leave it out for every release")
			return
		}
		release = n
	}
	res, err := s.series.Query(r.Context(), name, release, since)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read metrics history: "+err.Error(), "")
		return
	}
	res.Since = sinceText // as the client wrote it
	// Compact, unlike writeJSON: a year is thousands of points.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}
