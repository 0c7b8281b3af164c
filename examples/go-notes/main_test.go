package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	notes, err := openStore(filepath.Join(t.TempDir(), "notes.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notes.Close() })
	srv := httptest.NewServer(newHandler(notes, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv
}

func TestNotes(t *testing.T) {
	srv := newTestServer(t)

	res, body := do(t, "GET", srv.URL+"/", "")
	if res.StatusCode != 200 || body != greeting+"\n" {
		t.Errorf("GET / = %d %q", res.StatusCode, body)
	}
	if res, _ := do(t, "GET", srv.URL+"/healthz", ""); res.StatusCode != 200 {
		t.Errorf("GET /healthz = %d", res.StatusCode)
	}

	res, body = do(t, "POST", srv.URL+"/api/notes", `{"text": "buy milk"}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", res.StatusCode, body)
	}
	var created note
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || created.Text != "buy milk" || created.CreatedAt.IsZero() {
		t.Errorf("created = %+v", created)
	}

	res, body = do(t, "GET", srv.URL+"/api/notes/1", "")
	var got note
	if err := json.Unmarshal([]byte(body), &got); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET note = %d %s", res.StatusCode, body)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) || got.Text != created.Text {
		t.Errorf("read back %+v, created %+v", got, created)
	}

	do(t, "POST", srv.URL+"/api/notes", `{"text": "call mum"}`)
	_, body = do(t, "GET", srv.URL+"/api/notes", "")
	var list []note
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 2 || list[1].Text != "call mum" {
		t.Errorf("list = %s", body)
	}
}

func TestNotesErrors(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/notes/42", "", http.StatusNotFound},
		{"GET", "/api/notes/abc", "", http.StatusNotFound},
		{"POST", "/api/notes", `not json`, http.StatusBadRequest},
		{"POST", "/api/notes", `{"text": "  "}`, http.StatusBadRequest},
		{"DELETE", "/api/notes", "", http.StatusMethodNotAllowed},
		{"GET", "/nope", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		res, body := do(t, tt.method, srv.URL+tt.path, tt.body)
		if res.StatusCode != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, res.StatusCode, body, tt.want)
		}
	}
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}
