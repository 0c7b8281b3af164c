package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/pgtest"
	"github.com/prosperhq/prosper/internal/testbin"
)

// prosperBin is the binary the control plane runs as its node, built once.
var prosperBin string

func TestMain(m *testing.M) {
	code := testbin.Main(m, &prosperBin)
	pgtest.StopShared()
	os.Exit(code)
}

// testServer is a started control plane with its node, stopped with the test.
type testServer struct {
	*Server
	t       *testing.T
	dataDir string
	token   string
}

// startServer starts a control plane on free ports in dataDir (a new temporary
// directory when empty). Everything it starts, node included, stops with the test.
func startServer(t *testing.T, dataDir string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	srv := newServer(t, dataDir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.StopAll(ctx); err != nil {
			t.Errorf("stop all: %v", err)
		}
		// The node outlives a control plane that failed or was only stopped.
		_ = node.NewClient(dataDir).Shutdown(ctx)
	})
	return srv
}

// newServer starts a control plane in dataDir without registering its cleanup,
// for tests that stop and start again on one data dir.
func newServer(t *testing.T, dataDir string) *testServer {
	t.Helper()
	t.Cleanup(func() {
		// Registered first, so it runs last: whatever a test left running stops.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.NewClient(dataDir).Shutdown(ctx)
	})
	s, err := New(Config{DataDir: dataDir, Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Exe: prosperBin,
		Version: "test-1", HealthTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	tok, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, t: t, dataDir: dataDir, token: strings.TrimSpace(string(tok))}
}

// reply is an HTTP answer, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the body as the API's error shape.
func (r reply) apiError(t *testing.T) (msg, hint string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Hint  string `json:"hint"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON (%v): %s", err, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
	return e.Error, e.Hint
}

// call sends a request with the given bearer token (none when empty); a body
// that is not a string or []byte or nil is sent as JSON.
func (ts *testServer) call(method, path, token string, body any) reply {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.URL()+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends an authenticated request and fails the test unless it gets want.
func (ts *testServer) must(method, path string, body any, want int) reply {
	ts.t.Helper()
	r := ts.call(method, path, ts.token, body)
	if r.status != want {
		ts.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// createApp creates an app through the API.
func (ts *testServer) createApp(name string) {
	ts.t.Helper()
	ts.must(http.MethodPost, "/api/apps", map[string]string{"name": name}, http.StatusCreated)
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no data dir", Config{}, "--data-dir"},
		{"listen not an address", Config{DataDir: "d", Listen: "7070"}, "--listen"},
		{"http not an address", Config{DataDir: "d", HTTPAddr: "localhost"}, "--http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%+v) = %v, want an error naming %s", tt.cfg, err, tt.want)
			}
		})
	}
	s, err := New(Config{DataDir: "rel"})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(s.cfg.DataDir) || s.cfg.Listen != "127.0.0.1:7070" || s.cfg.HTTPAddr != "127.0.0.1:8080" ||
		s.cfg.Warm != 10*time.Minute || s.cfg.Exe == "" || s.cfg.Version != "dev" {
		t.Errorf("defaults: %+v", s.cfg)
	}
	if s, _ := New(Config{DataDir: "d", Warm: -1}); s.cfg.Warm != 0 {
		t.Errorf("a negative warm time became %s, want 0", s.cfg.Warm)
	}
}

func TestSameAddr(t *testing.T) {
	tests := []struct {
		have, want string
		same       bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:40123", "127.0.0.1:0", true},
		{"127.0.0.1:40123", "127.0.0.1:8080", false},
		{"0.0.0.0:40123", "127.0.0.1:0", false},
		{"127.0.0.1:40123", "nonsense", false},
	}
	for _, tt := range tests {
		if got := sameAddr(tt.have, tt.want); got != tt.same {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", tt.have, tt.want, got, tt.same)
		}
	}
}

func TestAdminTokenKeptAcrossRestartAndNodeAdopted(t *testing.T) {
	dir := t.TempDir()
	first := newServer(t, dir)
	fi, err := os.Stat(first.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode = %o, want 600", fi.Mode().Perm())
	}
	ctx := context.Background()
	before, err := node.NewClient(dir).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	router := first.RouterURL()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The node serves on without the control plane.
	if _, err := node.NewClient(dir).Info(ctx); err != nil {
		t.Fatalf("the node stopped with the control plane: %v", err)
	}

	second := startServer(t, dir)
	if second.token != first.token {
		t.Errorf("the admin token changed across a restart")
	}
	fi2, err := os.Stat(second.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("admin-token was rewritten on restart")
	}
	tokens, err := second.store.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 {
		t.Errorf("%d tokens stored after a restart, want 1", len(tokens))
	}
	second.must(http.MethodGet, "/api/info", nil, http.StatusOK)
	after, err := node.NewClient(dir).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.PID != before.PID || second.RouterURL() != router {
		t.Errorf("node not adopted: pid %d -> %d, router %s -> %s", before.PID, after.PID, router, second.RouterURL())
	}
}

func TestLostAdminTokenIsReplaced(t *testing.T) {
	dir := t.TempDir()
	first := newServer(t, dir)
	if err := first.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A token file that no longer matches the database (it was edited or
	// restored from elsewhere) is replaced by a working one, still private.
	if err := os.WriteFile(first.AdminTokenPath(), []byte("prsp_stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := startServer(t, dir)
	if second.token == "prsp_stale" || second.token == "" {
		t.Fatalf("admin token = %q", second.token)
	}
	second.must(http.MethodGet, "/api/info", nil, http.StatusOK)
	fi, err := os.Stat(second.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten admin-token mode = %o, want 600", fi.Mode().Perm())
	}
}

// readReply reads and closes a response.
func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode unmarshals a JSON answer.
func decode(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, r.body)
	}
}

// processAlive tells whether a process with this pid exists.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
