package node

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// parseSince reads the since parameter: an RFC 3339 time; empty means the
// zero time (every problem remembered).
func parseSince(r *http.Request) (time.Time, error) {
	s := r.URL.Query().Get("since")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest{fmt.Errorf("since %q is not an RFC 3339 time", s)}
	}
	return t, nil
}

// getMetricsWindow answers the merged metrics with whether the data of every
// router replica is complete since the given time.
func (n *node) getMetricsWindow(w http.ResponseWriter, r *http.Request) {
	since, err := parseSince(r)
	if err != nil {
		writeFailure(w, err)
		return
	}
	win := n.fleet.Window(since)
	if win.Releases == nil {
		win.Releases = []router.ReleaseMetrics{}
	}
	writeJSON(w, http.StatusOK, win)
}

func (n *node) getRouters(w http.ResponseWriter, r *http.Request) {
	st := n.fleet.Replicas()
	if st == nil {
		st = []router.ReplicaStatus{}
	}
	writeJSON(w, http.StatusOK, st)
}

// getMirrorLosses answers what may be missing of an app's mirrored exchanges
// since a time.
func (n *node) getMirrorLosses(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if err := validName(app); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	since, err := parseSince(r)
	if err != nil {
		writeFailure(w, err)
		return
	}
	l := n.fleet.MirrorLosses(app, since)
	if l == nil {
		l = []router.Missing{}
	}
	writeJSON(w, http.StatusOK, l)
}
