package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// appPy is the test app: a threaded HTTP server on $PORT that says which release
// answered, what its tag.txt holds and the MSG config var. GET /hold?until=PATH
// answers only once PATH exists, so a test can keep a request in flight; /healthz
// answers with the status in health.txt (200 without the file).
const appPy = `import http.server, json, os, time, urllib.parse

def read(name, default=""):
    try:
        with open(name) as f:
            return f.read().strip()
    except OSError:
        return default

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        code = 200
        if u.path == "/healthz":
            code = int(read("health.txt", "200"))
        if u.path == "/hold":
            until = urllib.parse.parse_qs(u.query)["until"][0]
            while not os.path.exists(until):
                time.sleep(0.02)
        body = json.dumps({
            "release": os.environ.get("PROSPER_RELEASE", ""),
            "tag": read("tag.txt"),
            "msg": os.environ.get("MSG", ""),
        }).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`

// python returns the path of a python3 interpreter, the system one first: a
// version manager's shim would add half a second to every start.
func python(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	return p
}

// pyApp returns the files of the test app with the given tag, plus extra files
// (prosper.yaml, health.txt ...), which may also replace the defaults.
func pyApp(t testing.TB, tag string, extra map[string]string) map[string]string {
	files := map[string]string{
		"app.py":   appPy,
		"Procfile": "web: exec " + python(t) + " app.py\n",
		"tag.txt":  tag + "\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	// The releases of the test app differ in what they say on purpose; the
	// mirror phase is told to ignore it, and to be quick. Tests of the mirror
	// phase itself write their own verify section.
	if !strings.Contains(files["prosper.yaml"], "verify:") {
		files["prosper.yaml"] += "\n" + quickVerify
	}
	return files
}

// quickVerify is a verify section for tests that are not about verification.
const quickVerify = "verify: {window: 200ms, min_requests: 1, ignore: [$.release, $.tag, $.msg], gates: {p50: +1s, p95: +1s, p99: +1s}}\n"

// source packs files into the archive of a deploy.
func source(t testing.TB, files map[string]string) Source {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := build.PackDir(dir, &buf); err != nil {
		t.Fatal(err)
	}
	return Source{Kind: "deploy", Commit: "0123456789abcdef", Branch: "main", Archive: &buf}
}

// routes adapts an in-process router to the RouteSetter a Manager drives, as the
// node's API does over HTTP.
type routes struct {
	rt *router.Router

	mu sync.Mutex
	// failSet, when set, makes SetRoutes fail, as an unreachable node would,
	// except for the tables that start mirroring.
	failSet error
	// afterSet, when set, runs after each table is set, for tests that need
	// something to happen between the switch of the router and the store.
	afterSet func(router.Table)
	subs     map[chan router.Exchange]string // mirror subscribers and their app
	// missing, when set, is what MetricsWindow says is missing of the
	// figures (as a node whose router replica stopped reporting would);
	// lost is what MirrorLosses says is missing of the exchanges.
	missing, lost []router.Missing
}

// MetricsWindow answers the router's metrics, incomplete while missing is set.
func (r *routes) MetricsWindow(_ context.Context, since time.Time) (router.Window, error) {
	r.mu.Lock()
	missing := r.missing
	r.mu.Unlock()
	return router.Window{Since: since, At: time.Now(), Releases: r.rt.Metrics(), Complete: len(missing) == 0, Missing: missing}, nil
}

// MirrorLosses answers lost.
func (r *routes) MirrorLosses(context.Context, string, time.Time) ([]router.Missing, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost, nil
}

func (r *routes) setMissing(missing, lost []router.Missing) {
	r.mu.Lock()
	r.missing, r.lost = missing, lost
	r.mu.Unlock()
}

func (r *routes) SetRoutes(_ context.Context, t router.Table) error {
	r.mu.Lock()
	err, after := r.failSet, r.afterSet
	r.mu.Unlock()
	mirrored := false
	for _, route := range t.Routes {
		mirrored = mirrored || route.Mirror != nil
	}
	// failSet lets the mirror phase start: it is about the switches.
	if err != nil && !mirrored {
		return err
	}
	if err := r.rt.SetTable(t); err != nil {
		return err
	}
	if after != nil {
		after(t)
	}
	return nil
}

func (r *routes) InFlight(_ context.Context, app string, release int) (int64, error) {
	return r.rt.InFlight(app, release), nil
}

func (r *routes) Metrics(context.Context) ([]router.ReleaseMetrics, error) {
	return r.rt.Metrics(), nil
}

// SubscribeMirror delivers the router's mirrored exchanges of app, as the
// node's stream does.
func (r *routes) SubscribeMirror(ctx context.Context, app string) (func() (router.Exchange, error), error) {
	ch := make(chan router.Exchange, 1024)
	r.mu.Lock()
	if r.subs == nil {
		r.subs = map[chan router.Exchange]string{}
		r.rt.SetMirrorSink(func(ex router.Exchange) {
			r.mu.Lock()
			defer r.mu.Unlock()
			for c, a := range r.subs {
				if a == ex.App {
					select {
					case c <- ex:
					default:
					}
				}
			}
		})
	}
	r.subs[ch] = app
	r.mu.Unlock()
	return func() (router.Exchange, error) {
		select {
		case ex := <-ch:
			return ex, nil
		case <-ctx.Done():
			r.mu.Lock()
			delete(r.subs, ch)
			r.mu.Unlock()
			return router.Exchange{}, ctx.Err()
		}
	}, nil
}

// harness is a control plane (Manager, store) over a data plane (a real process
// supervisor and a real router served on loopback).
type harness struct {
	t      *testing.T
	ctx    context.Context
	opts   Options
	store  *store.Store
	sup    *node.Supervisor
	routes *routes
	srv    *httptest.Server
	m      *Manager
	client *http.Client
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// newHarness returns a Manager with a fresh store, supervisor and router. Zero
// options get test defaults: a temporary data dir and a 20s health timeout.
func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 20 * time.Second
	}
	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(opts.DataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, ctx: ctx, opts: opts, store: st}
	h.newNode()
	return h
}

// newNode replaces the data plane with a new one, as after the node machine
// restarted: nothing runs and the router is empty. The Manager is new too, as
// the control plane would be.
func (h *harness) newNode() {
	t := h.t
	t.Helper()
	sup, err := node.NewSupervisor(node.SupervisorConfig{DataDir: t.TempDir(), Logger: testLogger(), StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close(context.Background()) })
	rs := &routes{rt: router.New(testLogger())}
	srv := httptest.NewServer(rs.rt)
	t.Cleanup(func() {
		srv.Close()
		rs.rt.CloseIdleConnections()
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	opts := h.opts
	opts.RouterURL = srv.URL
	h.sup, h.routes, h.srv = sup, rs, srv
	h.client = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	h.m = New(h.store, sup, rs, &build.Builder{}, opts, testLogger())
	t.Cleanup(h.m.Close)
}

// stopNode ends every process of the data plane, as a machine that went down.
func (h *harness) stopNode() {
	h.t.Helper()
	if err := h.sup.Close(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) createApp(name string) {
	h.t.Helper()
	if _, err := h.store.CreateApp(h.ctx, store.App{Name: name}); err != nil {
		h.t.Fatal(err)
	}
}

// deploy deploys files as a new release of app and returns what Deploy returned
// and printed.
func (h *harness) deploy(app string, files map[string]string) (store.Release, string, error) {
	h.t.Helper()
	var out bytes.Buffer
	rel, err := h.m.Deploy(h.ctx, app, source(h.t, files), &out)
	return rel, out.String(), err
}

// mustDeploy deploys files and fails the test unless the release goes live.
func (h *harness) mustDeploy(app string, files map[string]string) store.Release {
	h.t.Helper()
	rel, out, err := h.deploy(app, files)
	if err != nil {
		h.t.Fatalf("deploy %s: %v\n%s", app, err, out)
	}
	if rel.Status != store.StatusLive {
		h.t.Fatalf("deploy %s: status %s, want live", app, rel.Status)
	}
	return rel
}

// answer is what the router answered for an app.
type answer struct {
	Status  int    `json:"-"`
	Release string `json:"-"` // the Prosper-Release header
	// From the body of the test app:
	AppRelease string `json:"release"`
	Tag        string `json:"tag"`
	Msg        string `json:"msg"`
}

// get sends GET path to app through the router.
func (h *harness) get(app, path string) (answer, error) {
	return h.getHost(app+".localhost", path)
}

func (h *harness) getHost(host, path string) (answer, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		return answer{}, err
	}
	req.Host = host
	res, err := h.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{Status: res.StatusCode, Release: res.Header.Get("Prosper-Release")}
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &a); err != nil {
			return a, errors.New("body " + string(body) + ": " + err.Error())
		}
	}
	return a, nil
}

// mustServe checks that the router sends app's requests to release version with
// the given tag.
func (h *harness) mustServe(app string, version int, tag string) answer {
	h.t.Helper()
	a, err := h.get(app, "/")
	if err != nil {
		h.t.Fatalf("GET %s: %v", app, err)
	}
	want := "v" + strconv.Itoa(version)
	if a.Status != http.StatusOK || a.Release != want || a.AppRelease != want || a.Tag != tag {
		h.t.Fatalf("GET %s = %+v; want 200 from %s with tag %q", app, a, want, tag)
	}
	return a
}

// workloads returns the runtime status of the app's workloads by release.
func (h *harness) workloads(app string) map[int]runtime.Status {
	h.t.Helper()
	all, err := h.sup.List(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[int]runtime.Status{}
	for _, st := range all {
		if st.App == app {
			out[st.Release] = st
		}
	}
	return out
}

// running returns the releases of app the runtime runs, in order.
func (h *harness) running(app string) []int {
	var out []int
	for v := range h.workloads(app) {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func (h *harness) release(app string, version int) store.Release {
	h.t.Helper()
	r, err := h.store.GetRelease(h.ctx, app, version)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) live(app string) int {
	h.t.Helper()
	r, err := h.store.LiveRelease(h.ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return r.Version
}

// events returns the types of app's events about release (any release with 0).
func (h *harness) events(app string, release int) []string {
	h.t.Helper()
	evs, err := h.store.Events(h.ctx, store.EventQuery{App: app})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if release == 0 || e.Release == release {
			out = append(out, e.Type)
		}
	}
	return out
}

// eventData returns the data of app's last event of type typ.
func (h *harness) eventData(app, typ string) map[string]any {
	h.t.Helper()
	evs, err := h.store.Events(h.ctx, store.EventQuery{App: app, Types: []string{typ}})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(evs) == 0 {
		h.t.Fatalf("no %s event for %s", typ, app)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[len(evs)-1].Data, &data); err != nil {
		h.t.Fatal(err)
	}
	return data
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepUntil sweeps until cond holds.
func (h *harness) sweepUntil(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	eventually(h.t, what, timeout, func() bool {
		if err := h.m.Sweep(h.ctx); err != nil {
			h.t.Fatal(err)
		}
		return cond()
	})
}

// failedRelease checks that err is the *Error of a failed release and returns it.
func failedRelease(t testing.TB, rel store.Release, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T); want *rollout.Error", err, err)
	}
	if rel.Status != store.StatusFailed || e.Release.Status != store.StatusFailed {
		t.Fatalf("status %s / %s; want failed", rel.Status, e.Release.Status)
	}
	return e
}
