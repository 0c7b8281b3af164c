package rollout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
)

// brittleAppPy is the test app, answering 500 on /orders once the file
// "broken" exists in its directory (the smoke journey, on /, passes).
var brittleAppPy = strings.Replace(appPy, `        if u.path == "/healthz":`,
	"        if u.path == \"/orders\" and os.path.exists(\"broken\"):\n            code = 500\n        if u.path == \"/healthz\":", 1)

// The grace watch rolls back a release that answers 5xx after its promotion,
// but only on complete figures: while a router replica's data is missing it
// judges nothing, and says so when the grace period ends.
func TestGraceWatchJudgesOnlyCompleteFigures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		incomplete bool
	}{
		{"complete figures", false},
		{"a replica's figures missing", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Grace: 3 * time.Second})
			h.createApp("shop")
			h.mustDeploy("shop", pyApp(t, "one", map[string]string{"app.py": brittleAppPy}))
			if tt.incomplete {
				h.routes.setMissing([]router.Missing{{Replica: "router-b", Reason: "no report for 4s and no goodbye", From: time.Now()}}, nil)
			}
			h.mustDeploy("shop", pyApp(t, "two", map[string]string{"app.py": brittleAppPy}))
			if err := os.WriteFile(filepath.Join(h.release("shop", 2).Artifact, "broken"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for range 2 * graceErrorMinRequests {
				if _, err := h.get("shop", "/orders"); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.incomplete {
				waitUntil(t, 10*time.Second, "the rollback to v1", func() bool { return h.live("shop") == 1 })
				for _, e := range h.appEvents("shop") {
					if e.Type == "release.rolled_back" && !strings.Contains(string(e.Data), "with a 5xx after promotion") {
						t.Errorf("rolled back for %s; want the error rate", e.Data)
					}
				}
				return
			}
			var unjudged store.Event
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				done := false
				for _, e := range h.appEvents("shop") {
					if e.Release == 2 && (e.Type == "release.unjudged" || e.Type == "release.trusted") {
						unjudged = e
						done = true
					}
				}
				if done {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if unjudged.Type != "release.unjudged" || !strings.Contains(string(unjudged.Data), "router-b") {
				t.Errorf("grace ended with %s %s; want release.unjudged naming router-b", unjudged.Type, unjudged.Data)
			}
			if live := h.live("shop"); live != 2 {
				t.Errorf("live v%d; want v2: incomplete figures judge nothing, neither way", live)
			}
		})
	}
}

// A verification whose window lost mirrored exchanges on a router replica is
// not promoted, whatever the exchanges that arrived say.
func TestVerifyRefusesLostExchanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("calm")
	const verify = "verify: {window: 1s, min_requests: 10}"
	h.mustDeploy("calm", verifyApp(t, variant{Total: 10}, verify, nil))
	h.routes.setMissing(nil, []router.Missing{{Replica: "router-b", Reason: "3 mirrored exchange(s) of calm lost", From: time.Now(), To: time.Now()}})
	v2 := verifyApp(t, variant{Total: 10}, verify, nil)
	v2["app.py"] += "# refactored: same answers, other code\n"
	r := h.trafficUntil("calm", h.deployAsync(h.ctx, "calm", v2), "/")
	if r.rel.Status == store.StatusLive || h.live("calm") != 1 {
		t.Fatalf("v2 status %s, live v%d; want v2 rejected\n%s", r.rel.Status, h.live("calm"), r.out)
	}
	rep := h.report(h.release("calm", 2))
	if rep.Verdict.Passed || rep.State != "rejected" || !strings.Contains(strings.Join(rep.Verdict.Reasons, "\n"), "router-b") {
		t.Errorf("report: passed %v, state %q, reasons %q; want rejected naming router-b", rep.Verdict.Passed, rep.State, rep.Verdict.Reasons)
	}
}

// appEvents returns the app's events.
func (h *harness) appEvents(app string) []store.Event {
	h.t.Helper()
	ev, err := h.store.Events(h.ctx, store.EventQuery{App: app})
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}
