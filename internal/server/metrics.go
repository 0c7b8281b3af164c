package server

import (
	"net/http"

	"github.com/prosperhq/prosper/internal/router"
)

// handleAppMetrics answers the router's per-release figures for one app:
// requests, status classes, proxy errors, in-flight and latency quantiles.
func (s *Server) handleAppMetrics(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	all, err := s.node.Metrics(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	out := []router.ReleaseMetrics{}
	for _, m := range all {
		if m.App == name {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePrometheus relays the router's metrics in Prometheus text format, for a
// scraper holding a token (bearer_token in its scrape config).
func (s *Server) handlePrometheus(w http.ResponseWriter, r *http.Request) {
	resp, err := s.node.Prometheus(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(resp)
}
