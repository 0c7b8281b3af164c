package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

// handleLogs answers GET /api/apps/{app}/logs with NDJSON lines. Without
// follow it is a search: the newest `limit` lines (default 1000) matching
// release, since, grep (case-insensitive) and level (that level or worse),
// oldest first to read as a log, or newest first with order=newest. With
// follow=1 it streams the stored lines that match, then new ones as they come.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	v := r.URL.Query()
	q := node.LogSearch{App: name, Grep: v.Get("grep")}
	if s := v.Get("release"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "release must be a number, as in 3", "")
			return
		}
		q.Release = n
	}
	since, err := node.ParseSince(v.Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	q.Since = since
	if level := v.Get("level"); level != "" {
		lv, ok := parseLevel(level)
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("level %q is not known: use debug, info, warn or error", level), "")
			return
		}
		q.Level = lv
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > node.MaxLogLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a number of lines up to %d", node.MaxLogLimit), "")
			return
		}
		q.Limit = n
	}
	hint := "restart the platform with: prosper up"
	if v.Get("follow") != "1" {
		lines, err := s.node.SearchLogs(r.Context(), q)
		if err != nil {
			writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), hint)
			return
		}
		if v.Get("order") != "newest" {
			slices.Reverse(lines)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return
			}
		}
		return
	}

	// The status goes out with the first line, so that a node that cannot be
	// asked is told as an error status rather than inside a 200 stream.
	started := false
	start := func() {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
	}
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	rq := runtime.LogQuery{App: name, Release: q.Release, Since: q.Since, Grep: q.Grep, Follow: true}
	err = s.node.Logs(r.Context(), rq, func(l runtime.LogLine) error {
		if q.Level != "" && !matchesLevel(l, q.Level) {
			return nil
		}
		start()
		if err := enc.Encode(l); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	switch {
	case err == nil || errors.Is(err, context.Canceled) || r.Context().Err() != nil:
		start()
	case !started:
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), hint)
	default:
		_ = enc.Encode(api.Message{Error: &api.Error{Error: err.Error(), Hint: hint}})
	}
}

// handleCrashes answers GET /api/apps/{app}/crashes?since=24h with the app's
// recorded crashes, oldest first: when, which release and replica, the exit
// code or signal, and the last lines before each.
func (s *Server) handleCrashes(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	since, err := node.ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	crashes, err := s.node.Crashes(r.Context(), name, since)
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	if crashes == nil {
		crashes = []node.Crash{}
	}
	writeJSON(w, http.StatusOK, crashes)
}
