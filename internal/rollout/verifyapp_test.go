package rollout

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// verifyAppPy is the test app of the mirror phase: what each release does
// differently is written in its variant.json, so that one program can be a
// harmless refactor, a changed field, a failing endpoint or a crash.
//
//   - GET /: {"total": variant.total} plus three noise fields: "now" (a
//     timestamp) and "request_id" (a uuid4), which look volatile, and
//     "jitter" (random.random()), which only a control instance can teach.
//   - GET /boom: 500 when variant.boom, else 200.
//   - POST /items {"name": ...}: 201 {"id", "name"}, a row in DATA_DIR/app.db
//     that records which release wrote it.
//   - GET /items/{id}: the row, or 404 (always 404 when variant.item404).
//
// With variant.exit_after the process exits that many seconds after it
// started, unless it runs in mirror production (PROSPER_MIRROR=1): a release
// that passes verification and crashes once live.
const verifyAppPy = `import datetime, http.server, json, os, random, sqlite3, threading, time, uuid

with open("variant.json") as f:
    VARIANT = json.load(f)
DB = os.path.join(os.environ["DATA_DIR"], "app.db")
RELEASE = os.environ.get("PROSPER_RELEASE", "")

def db():
    c = sqlite3.connect(DB, timeout=10)
    c.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, release TEXT)")
    return c

db().close()

if VARIANT.get("exit_after") and os.environ.get("PROSPER_MIRROR") != "1":
    threading.Timer(VARIANT["exit_after"], lambda: os._exit(3)).start()

class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self.answer(200, {"ok": True})
        if path == "/":
            return self.answer(200, {
                "total": VARIANT["total"],
                "now": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "request_id": str(uuid.uuid4()),
                "jitter": random.random(),
            })
        if path == "/boom":
            if VARIANT.get("boom"):
                return self.answer(500, {"error": "boom"})
            return self.answer(200, {"ok": True})
        if path.startswith("/items/"):
            if VARIANT.get("item404"):
                return self.answer(404, {"error": "no such item"})
            with db() as c:
                row = c.execute("SELECT id, name FROM items WHERE id = ?", (path[len("/items/"):],)).fetchone()
            if row is None:
                return self.answer(404, {"error": "no such item"})
            return self.answer(200, {"id": row[0], "name": row[1]})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/items":
            return self.answer(404, {"error": "not found"})
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with db() as c:
            cur = c.execute("INSERT INTO items (name, release) VALUES (?, ?)", (doc.get("name", ""), RELEASE))
            item = cur.lastrowid
        self.answer(201, {"id": item, "name": doc.get("name", "")})

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`

// journeyBot is a bot journey that creates an item and reads it back.
const journeyBot = `name: journey
every: 150ms
cost_of_failure: 40 EUR
steps:
  - post: /items
    json: {name: thing}
    expect: {status: 201}
    save: {id: $.id}
  - get: /items/{{id}}
    expect: {status: 200, json: {$.name: thing}}
`

// variant is what a release of verifyAppPy does differently.
type variant struct {
	Total     any     `json:"total"`
	Boom      bool    `json:"boom,omitempty"`
	Item404   bool    `json:"item404,omitempty"`
	ExitAfter float64 `json:"exit_after,omitempty"`
}

// verifyApp returns the files of a release of verifyAppPy; verify is the
// verify section of its prosper.yaml, extra adds files (bots).
func verifyApp(t testing.TB, v variant, verify string, extra map[string]string) map[string]string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"app.py":       verifyAppPy,
		"Procfile":     "web: exec " + python(t) + " app.py\n",
		"variant.json": string(b),
		"prosper.yaml": "health: /healthz\n" + verify + "\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

// deployAsync deploys files in the background; the result comes on the channel.
func (h *harness) deployAsync(ctx context.Context, app string, files map[string]string) <-chan deployResult {
	h.t.Helper()
	src := source(h.t, files)
	done := make(chan deployResult, 1)
	go func() {
		var out syncBuffer
		rel, err := h.m.Deploy(ctx, app, src, &out)
		done <- deployResult{rel: rel, err: err, out: out.String()}
	}()
	return done
}

type deployResult struct {
	rel store.Release
	err error
	out string
}

// syncBuffer is a bytes.Buffer a deploy writes to while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// request sends one request to app through the router and returns the status
// and the body.
func (h *harness) request(app, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(h.ctx, method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Host = app + ".localhost"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	return res.StatusCode, buf.Bytes(), err
}

// trafficUntil sends requests, round robin over paths (GET) at a steady pace,
// through the router until the deploy ends, and returns its result. It is
// bounded: a deploy that never ends fails the test.
func (h *harness) trafficUntil(app string, done <-chan deployResult, paths ...string) deployResult {
	h.t.Helper()
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
	for i := 0; ; i++ {
		select {
		case r := <-done:
			return r
		case <-deadline:
			h.t.Fatalf("the deploy of %s did not end within 90s", app)
		case <-tick.C:
		}
		if _, _, err := h.request(app, http.MethodGet, paths[i%len(paths)], ""); err != nil {
			h.t.Fatalf("GET %s through the router: %v", paths[i%len(paths)], err)
		}
	}
}

// verificationWorkloads lists the candidate and control workloads the runtime
// runs for app.
func (h *harness) verificationWorkloads(app string) []string {
	h.t.Helper()
	all, err := h.sup.List(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, st := range all {
		if st.App == app && verificationWorkload(st.ID) {
			out = append(out, st.ID)
		}
	}
	slices.Sort(out)
	return out
}

// mirrored reports whether the router mirrors any of app's traffic.
func (h *harness) mirrored(app string) bool {
	for _, r := range h.routes.rt.Table().Routes {
		if r.App == app && r.Mirror != nil {
			return true
		}
	}
	return false
}

// verifyDirGone fails the test if the data of app's verification of version
// is still on disk.
func (h *harness) verifyDirGone(app string, version int) {
	h.t.Helper()
	dir := h.m.verifyDir(app, version)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		h.t.Errorf("verification data %s: stat err = %v; want it removed", dir, err)
	}
}

// report reads the verification report stored with a release.
func (h *harness) report(rel store.Release) Report {
	h.t.Helper()
	if len(rel.Verification) == 0 {
		h.t.Fatalf("v%d has no verification report", rel.Version)
	}
	var r Report
	if err := json.Unmarshal(rel.Verification, &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// rowsByRelease counts the rows of a verifyAppPy database by the release that
// wrote them.
func rowsByRelease(path string) (map[string]int, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT release FROM items`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out[r]++
	}
	return out, rows.Err()
}
