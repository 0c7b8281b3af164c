package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, hint string) {
	writeJSON(w, status, api.Error{Error: msg, Hint: hint})
}

// writeStoreError answers for the errors of the store that have a meaning for the
// user, naming the app the request was about.
func writeStoreError(w http.ResponseWriter, app string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown app \""+app+"\"", "list apps with: prosper app list; create one with: prosper app create "+app)
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, "app \""+app+"\" exists already", "pick another name, or delete it with: prosper app delete "+app)
	default:
		writeError(w, http.StatusInternalServerError, err.Error(), "")
	}
}

// stream sends newline-delimited api.Messages, flushing each, for operations whose
// progress the user watches. It is an io.Writer of progress lines.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	partial []byte
}

func newStream(w http.ResponseWriter) *stream {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return &stream{w: w, enc: json.NewEncoder(w)}
}

// Write sends every complete line of p as a message. A client that went away
// makes writes fail silently: the operation itself goes on.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := indexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.send(api.Message{Line: line})
	}
	return len(p), nil
}

func (s *stream) send(m api.Message) {
	_ = s.enc.Encode(m)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// end sends what is left of a partial line and the final message.
func (s *stream) end(m api.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.send(api.Message{Line: string(s.partial)})
		s.partial = nil
	}
	s.send(m)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
