package server

import (
	"net/http"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// Routers is the answer of GET /api/routers.
type Routers struct {
	// Replicas are the router replicas that report to the node (prosper up
	// --nats); empty when the node's own router is the only one.
	Replicas []router.ReplicaStatus `json:"replicas"`
	// Missing is what is missing of their figures in the last minute: a
	// window that overlaps it is not judged.
	Missing []router.Missing `json:"missing"`
}

// handleRouters answers GET /api/routers, so that `prosper router status`
// works from any machine, an in-cluster control plane's included.
func (s *Server) handleRouters(w http.ResponseWriter, r *http.Request) {
	replicas, err := s.node.Routers(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	win, err := s.node.MetricsWindow(r.Context(), time.Now().Add(-time.Minute))
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	writeJSON(w, http.StatusOK, Routers{Replicas: replicas, Missing: win.Missing})
}
