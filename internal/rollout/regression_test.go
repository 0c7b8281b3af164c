package rollout

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// flagApp answers GET /flag with 500 while DATA_DIR/broken exists: a live
// release that starts failing its customers' journey long after its grace.
const flagApp = `import http.server, os

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        broken = os.path.exists(os.path.join(os.environ["DATA_DIR"], "broken"))
        code = 500 if self.path == "/flag" and broken else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

func TestLiveRegressionOpensAndResolvesAnIncident(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("flags")
	h.mustDeploy("flags", map[string]string{
		"app.py":         flagApp,
		"Procfile":       "web: exec " + python(t) + " app.py\n",
		"bots/flag.yaml": "name: read the flag\nevery: 100ms\nsteps:\n  - get: /flag\n    expect: {status: 200}\n",
		"prosper.yaml":   "verify: {window: 200ms, min_requests: 1}\n",
	})
	incidents := func() []store.Incident {
		list, err := h.store.Incidents(h.ctx, store.IncidentQuery{App: "flags"})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	broken := filepath.Join(h.opts.DataDir, "appdata", "flags", "broken")
	if err := os.WriteFile(broken, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "an incident for the failing journey", func() bool { return len(incidents()) == 1 })
	inc := incidents()[0]
	if inc.Cause != store.CauseGateRegression || inc.Release != 1 || inc.ResolvedAt != nil {
		t.Fatalf("incident %+v", inc)
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the incident resolved once the journey passes", func() bool {
		list := incidents()
		return len(list) == 1 && list[0].ResolvedAt != nil && list[0].ResolvedBy == 1
	})
	// The event follows the incident's record by a moment.
	var evs []store.Event
	waitUntil(t, 5*time.Second, "incident.opened and incident.resolved events", func() bool {
		var err error
		evs, err = h.store.Events(h.ctx, store.EventQuery{App: "flags", Types: []string{"incident.opened", "incident.resolved"}})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) == 2
	})
	if evs[0].Type != "incident.opened" || evs[1].Type != "incident.resolved" {
		t.Errorf("events %s, %s; want opened then resolved", evs[0].Type, evs[1].Type)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
