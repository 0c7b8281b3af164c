package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

func TestStreamSendsWholeLines(t *testing.T) {
	rec := httptest.NewRecorder()
	s := newStream(rec)
	for _, p := range []string{"buil", "ding\nstep 1\n", "", "step 2\n\nno newline"} {
		if n, err := s.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	s.end(api.Message{Result: &api.Result{URL: "http://x"}})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" || !rec.Flushed {
		t.Errorf("status %d, Content-Type %q, flushed %v", rec.Code, rec.Header().Get("Content-Type"), rec.Flushed)
	}
	msgs := messages(t, reply{body: rec.Body.Bytes()})
	var lines []string
	for _, m := range msgs[:len(msgs)-1] {
		lines = append(lines, m.Line)
	}
	want := []string{"building", "step 1", "step 2", "", "no newline"}
	if fmt.Sprint(lines) != fmt.Sprint(want) || msgs[len(msgs)-1].Result == nil {
		t.Fatalf("lines %q, last %+v; want %q then the result", lines, msgs[len(msgs)-1], want)
	}
}

func TestStreamConcurrentWriters(t *testing.T) {
	rec := httptest.NewRecorder()
	s := newStream(rec)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(s, "writer %d line %d\n", i, j)
			}
		})
	}
	wg.Wait()
	s.end(api.Message{Error: &api.Error{Error: "failed"}})
	msgs := messages(t, reply{body: rec.Body.Bytes()})
	if len(msgs) != 8*50+1 {
		t.Fatalf("%d messages, want %d", len(msgs), 8*50+1)
	}
	for _, m := range msgs[:len(msgs)-1] {
		if !strings.HasPrefix(m.Line, "writer ") {
			t.Fatalf("a line was torn: %q", m.Line)
		}
	}
}

func TestWriteStoreError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		msg    string
		hint   string
	}{
		{fmt.Errorf("get: %w", store.ErrNotFound), http.StatusNotFound, `unknown app "shop"`, "prosper app create shop"},
		{store.ErrExists, http.StatusConflict, `app "shop" exists already`, "prosper app delete shop"},
		{errors.New("disk I/O error"), http.StatusInternalServerError, "disk I/O error", ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		writeStoreError(rec, "shop", tt.err)
		msg, hint := reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}.apiError(t)
		if rec.Code != tt.status || msg != tt.msg || !strings.Contains(hint, tt.hint) {
			t.Errorf("writeStoreError(%v) = %d %q %q", tt.err, rec.Code, msg, hint)
		}
	}
}
