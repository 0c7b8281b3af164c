package rollout

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// stepsApp answers {"ok": true}; with fail.txt in its tree it answers 500 to
// real users only (not to mirrored copies, PROSPER_MIRROR=1), the kind of bug
// mirror production cannot see and promotion steps can.
const stepsApp = `import http.server, os

FAIL = os.path.exists("fail.txt") and os.environ.get("PROSPER_MIRROR") != "1"

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 500 if FAIL and self.path != "/healthz" else 200
        body = b'{"ok": true}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

func stepsFiles(t *testing.T, fail bool) map[string]string {
	files := map[string]string{
		"app.py":       stepsApp,
		"Procfile":     "web: exec " + python(t) + " app.py\n",
		"prosper.yaml": "health: /healthz\nverify: {window: 400ms, min_requests: 1, grace: 1s, steps: [20%, 50%]}\n",
	}
	if fail {
		files["fail.txt"] = "1"
	}
	return files
}

// steadyLoad sends GET / to app until stop, counting answers by status.
func steadyLoad(h *harness, app string) (stop func() map[int]int64) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	var ok, bad atomic.Int64
	for range 2 {
		wg.Go(func() {
			for i := 0; i < 20000; i++ { // bounded
				select {
				case <-done:
					return
				default:
				}
				if a, err := h.get(app, "/"); err == nil && a.Status == http.StatusOK {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return func() map[int]int64 {
		close(done)
		wg.Wait()
		return map[int]int64{200: ok.Load(), 500: bad.Load()}
	}
}

func TestPromotionSteps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.mustDeploy("shop", stepsFiles(t, false))
	stop := steadyLoad(h, "shop")

	// A release that fails only real users passes the mirror and is stopped
	// at its first step; live is v1 again.
	rel, out, err := h.deploy("shop", stepsFiles(t, true))
	var e *Error
	if !errors.As(err, &e) || rel.Status != store.StatusRejected {
		t.Fatalf("deploy = %s, %v; want rejected\n%s", rel.Status, err, out)
	}
	if !strings.Contains(out, "PROMOTED v2") || !strings.Contains(out, "step 20%: v2 answered") ||
		!strings.Contains(out, "REJECTED v2 during its promotion steps") {
		t.Errorf("output does not show the mirror passing and the first step failing:\n%s", out)
	}
	if got := h.live("shop"); got != 1 {
		t.Fatalf("live = v%d, want v1", got)
	}
	if tbl := h.routes.rt.Table(); len(tbl.Routes[0].Backends) != 1 || tbl.Routes[0].Backends[0].Release != 1 {
		t.Fatalf("route after the failed step = %+v; want v1 alone", tbl.Routes[0].Backends)
	}

	// A sound release passes each step and takes all traffic.
	rel, out, err = h.deploy("shop", stepsFiles(t, false))
	if err != nil || rel.Status != store.StatusLive {
		t.Fatalf("deploy = %s, %v\n%s", rel.Status, err, out)
	}
	for _, want := range []string{"step 20% passed", "step 50% passed", "v3 is live"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	counts := stop()
	if counts[200] == 0 {
		t.Fatal("the load got no answer")
	}
	// Users met v2's errors only during its 20% step: a bounded share.
	if share := float64(counts[500]) / float64(counts[200]+counts[500]); share > 0.2 {
		t.Errorf("%.0f%% of user requests failed; the failing step should have limited it", share*100)
	}
}
