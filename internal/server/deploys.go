package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/store"
)

// maxSourceBytes bounds an uploaded source tree (compressed).
const maxSourceBytes = 512 << 20

// deployHandler builds and releases a working tree sent as a gzip-compressed tar
// (`prosper deploy`), streaming progress.
func (s *Server) deployHandler(base context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("app")
		if _, err := s.store.GetApp(r.Context(), name); err != nil {
			writeStoreError(w, name, err)
			return
		}
		defer closeBody(r)
		src := rollout.Source{Kind: "deploy", Commit: r.URL.Query().Get("commit"), Branch: r.URL.Query().Get("branch"),
			ExpectChanges: r.URL.Query()["expect_change"],
			Archive:       http.MaxBytesReader(w, r.Body, maxSourceBytes)}
		s.runDeploy(base, w, name, src)
	}
}

// runDeploy runs a deploy under the server's context and streams it to w.
func (s *Server) runDeploy(base context.Context, w http.ResponseWriter, app string, src rollout.Source) {
	// Progress goes out while the source is still coming in.
	_ = http.NewResponseController(w).EnableFullDuplex()
	out := newStream(w)
	rel, err := s.rollout.Deploy(base, app, src, out)
	if err != nil {
		out.end(api.Message{Error: deployError(err)})
		return
	}
	out.end(api.Message{Result: &api.Result{Release: rel, URL: s.rollout.URL(app)}})
}

// closeBody drains and closes a request body that a full-duplex handler may have
// left unread; without it the server panics reading the next request on the
// connection (golang/go#68560).
func closeBody(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	_ = r.Body.Close()
}

func deployError(err error) *api.Error {
	var de *rollout.Error
	if errors.As(err, &de) && de.Release.Status == store.StatusRejected {
		return &api.Error{Error: err.Error(), Hint: fmt.Sprintf("the live release was not touched; the whole verdict, with examples: prosper verify status %s", de.Release.App)}
	}
	if errors.As(err, &de) && de.Release.Version > 0 {
		return &api.Error{Error: err.Error(), Hint: "the live release was not touched; the build log: prosper releases " + de.Release.App + " (and GET /api/apps/" + de.Release.App + "/releases/N/log)"}
	}
	if errors.Is(err, store.ErrNotFound) {
		return &api.Error{Error: err.Error(), Hint: "create the app first: prosper app create NAME"}
	}
	return &api.Error{Error: err.Error()}
}

func (s *Server) rollbackHandler(base context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("app")
		if _, err := s.store.GetApp(r.Context(), name); err != nil {
			writeStoreError(w, name, err)
			return
		}
		var req api.RollbackRequest
		if r.ContentLength != 0 {
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "the request body is not valid JSON: "+err.Error(), "")
				return
			}
		}
		out := newStream(w)
		rel, instant, err := s.rollout.Rollback(base, name, req.Version, out)
		if err != nil {
			out.end(api.Message{Error: &api.Error{Error: err.Error(), Hint: "see the releases with: prosper releases " + name}})
			return
		}
		out.end(api.Message{Result: &api.Result{Release: rel, URL: s.rollout.URL(name), Instant: instant}})
	}
}

func (s *Server) configHandler(base context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("app")
		if _, err := s.store.GetApp(r.Context(), name); err != nil {
			writeStoreError(w, name, err)
			return
		}
		var req api.ConfigRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "the request body is not valid JSON: "+err.Error(), "")
			return
		}
		for k := range req.Set {
			if err := validEnvName(k); err != nil {
				writeError(w, http.StatusBadRequest, err.Error(), "")
				return
			}
		}
		out := newStream(w)
		rel, err := s.rollout.Reconfigure(base, name, req.Set, req.Unset, out)
		if err != nil {
			out.end(api.Message{Error: deployError(err)})
			return
		}
		out.end(api.Message{Result: &api.Result{Release: rel, URL: s.rollout.URL(name)}})
	}
}
