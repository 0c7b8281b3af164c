package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
)

// maxBody bounds request bodies: a routing table or a spec is small.
const maxBody = 8 << 20

// handler returns the control API served on the node socket.
func (n *node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", n.getInfo)
	mux.HandleFunc("GET /v1/routes", n.getRoutes)
	mux.HandleFunc("PUT /v1/routes", n.putRoutes)
	mux.HandleFunc("GET /v1/metrics", n.getMetrics)
	mux.HandleFunc("GET /v1/metrics/window", n.getMetricsWindow)
	mux.HandleFunc("GET /v1/routers", n.getRouters)
	mux.HandleFunc("GET /v1/mirror/losses", n.getMirrorLosses)
	mux.HandleFunc("GET /v1/metrics/prometheus", n.getPrometheus)
	mux.HandleFunc("POST /v1/metrics/interval", n.takeIntervalLatency)
	mux.HandleFunc("GET /v1/inflight", n.getInFlight)
	mux.HandleFunc("GET /v1/workloads", n.listWorkloads)
	mux.HandleFunc("PUT /v1/workloads/{id}", n.startWorkload)
	mux.HandleFunc("DELETE /v1/workloads/{id}", n.stopWorkload)
	mux.HandleFunc("GET /v1/logs", n.getLogs)
	mux.HandleFunc("GET /v1/logs/search", n.getLogSearch)
	mux.HandleFunc("GET /v1/crashes", n.getCrashes)
	mux.HandleFunc("GET /v1/mirror/exchanges", n.getMirrorExchanges)
	mux.HandleFunc("GET /v1/mirror/metrics", n.getMirrorMetrics)
	mux.HandleFunc("GET /v1/mirror/subscribers", n.getMirrorSubscribers)
	mux.HandleFunc("GET /v1/procstats", n.getProcStats)
	mux.HandleFunc("POST /v1/shutdown", n.postShutdown)
	return mux
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error()})
}

// badRequest marks an error caused by the request, answered with 400.
type badRequest struct{ err error }

func (e badRequest) Error() string { return e.err.Error() }
func (e badRequest) Unwrap() error { return e.err }

// writeFailure picks the status for err: 404 for a missing workload, 400 for a
// bad request, 500 for the rest.
func writeFailure(w http.ResponseWriter, err error) {
	var br badRequest
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.As(err, &br), errors.Is(err, router.ErrInvalidTable):
		writeError(w, http.StatusBadRequest, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return badRequest{fmt.Errorf("decode request body: %w", err)}
	}
	return nil
}

func (n *node) getInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.info)
}

func (n *node) getRoutes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.router.Table())
}

func (n *node) putRoutes(w http.ResponseWriter, r *http.Request) {
	var t router.Table
	if err := decodeBody(r, &t); err != nil {
		writeFailure(w, err)
		return
	}
	if err := n.setRoutes(t); err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n.router.Table())
}

func (n *node) getMetrics(w http.ResponseWriter, r *http.Request) {
	m := n.fleet.Metrics()
	if m == nil {
		m = []router.ReleaseMetrics{}
	}
	writeJSON(w, http.StatusOK, m)
}

// takeIntervalLatency answers the latency quantiles since the previous call and
// starts a new interval. It is a POST: each call changes what the next answers.
func (n *node) takeIntervalLatency(w http.ResponseWriter, r *http.Request) {
	l := n.fleet.TakeIntervalLatency()
	if l == nil {
		l = []router.IntervalLatency{}
	}
	writeJSON(w, http.StatusOK, l)
}

func (n *node) getPrometheus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if err := n.fleet.WritePrometheus(w); err != nil {
		n.logger.Warn("write prometheus metrics", "err", err)
	}
}

// inFlight is the answer of GET /v1/inflight.
type inFlight struct {
	InFlight int64 `json:"in_flight"`
}

func (n *node) getInFlight(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app == "" {
		writeError(w, http.StatusBadRequest, errors.New("query parameter app is required"))
		return
	}
	rel, err := parseRelease(r.URL.Query().Get("release"))
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inFlight{InFlight: n.fleet.InFlight(app, rel)})
}

func (n *node) listWorkloads(w http.ResponseWriter, r *http.Request) {
	st, err := n.sup.List(r.Context())
	if err != nil {
		writeFailure(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (n *node) startWorkload(w http.ResponseWriter, r *http.Request) {
	var spec runtime.Spec
	if err := decodeBody(r, &spec); err != nil {
		writeFailure(w, err)
		return
	}
	id := r.PathValue("id")
	if spec.ID == "" {
		spec.ID = id
	}
	if spec.ID != id {
		writeError(w, http.StatusBadRequest, fmt.Errorf("workload id %q in the body differs from %q in the path", spec.ID, id))
		return
	}
	if err := n.sup.Start(r.Context(), spec); err != nil {
		status := http.StatusBadRequest // a spec the node cannot run
		if errors.Is(err, ErrShuttingDown) {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (n *node) stopWorkload(w http.ResponseWriter, r *http.Request) {
	if err := n.sup.Stop(r.Context(), r.PathValue("id")); err != nil {
		writeFailure(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getLogs streams the matching lines as NDJSON, one flush per line so that a
// follower sees each line as it is written.
func (n *node) getLogs(w http.ResponseWriter, r *http.Request) {
	q, err := parseLogQuery(r)
	if err != nil {
		writeFailure(w, err)
		return
	}
	if err := validName(q.App); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	err = n.sup.Logs(r.Context(), q, func(l runtime.LogLine) error {
		if err := enc.Encode(l); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && r.Context().Err() == nil {
		n.logger.Warn("stream logs", "app", q.App, "err", err)
	}
}

func parseLogQuery(r *http.Request) (runtime.LogQuery, error) {
	v := r.URL.Query()
	q := runtime.LogQuery{App: v.Get("app"), Grep: v.Get("grep")}
	var err error
	if q.Release, err = parseRelease(v.Get("release")); err != nil {
		return q, err
	}
	if s := v.Get("since"); s != "" {
		if q.Since, err = time.ParseDuration(s); err != nil || q.Since < 0 {
			return q, badRequest{fmt.Errorf("since %q is not a duration like 10m or 2h", s)}
		}
	}
	if f := v.Get("follow"); f != "" {
		if q.Follow, err = strconv.ParseBool(f); err != nil {
			return q, badRequest{fmt.Errorf("follow %q is not 0 or 1", f)}
		}
	}
	return q, nil
}

// parseRelease accepts "3" and "v3"; empty means 0 (every release).
func parseRelease(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || n < 0 {
		return 0, badRequest{fmt.Errorf("release %q is not a release number like 3 or v3", s)}
	}
	return n, nil
}

func (n *node) postShutdown(w http.ResponseWriter, r *http.Request) {
	n.requestShutdown()
	writeJSON(w, http.StatusAccepted, struct {
		Status string `json:"status"`
	}{"stopping"})
}
