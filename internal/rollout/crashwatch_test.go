package rollout

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// crashyPy runs the test app and ends its process with exit code 3 as soon as
// the file crash-vN (N its release) exists in the app's data directory, and at
// every restart while it does: a live release that crash-loops on demand.
const crashyPy = `import os, runpy, threading, time
flag = os.path.join(os.environ["DATA_DIR"], "crash-" + os.environ["PROSPER_RELEASE"])
def watch():
    while True:
        if os.path.exists(flag):
            os._exit(3)
        time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
runpy.run_path("app.py", run_name="__main__")
`

func TestCrashWatch(t *testing.T) {
	// A grace period that ends at once: the grace watcher, which rolls back a
	// crash by itself, is not what this test is about.
	h := newHarness(t, Options{Grace: time.Millisecond})
	h.createApp("shop")
	files := func(tag string) map[string]string {
		return pyApp(t, tag, map[string]string{"crashy.py": crashyPy, "Procfile": "web: exec " + python(t) + " crashy.py\n"})
	}
	h.mustDeploy("shop", files("one"))
	flag := func(v int) string { return filepath.Join(h.m.appDataDir("shop"), "crash-v"+strconv.Itoa(v)) }

	incidents := func() []store.Incident {
		t.Helper()
		list, err := h.store.Incidents(h.ctx, store.IncidentQuery{App: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	watchUntil := func(what string, cond func([]store.Incident) bool) []store.Incident {
		t.Helper()
		var list []store.Incident
		eventually(t, what, 30*time.Second, func() bool {
			if err := h.m.WatchCrashes(h.ctx); err != nil {
				t.Fatal(err)
			}
			list = incidents()
			return cond(list)
		})
		return list
	}

	// A healthy live release opens nothing.
	for range 3 {
		if err := h.m.WatchCrashes(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if list := incidents(); len(list) != 0 {
		t.Fatalf("incidents of a healthy app: %+v", list)
	}

	// v1 crash-loops: one incident, however many sweeps see it.
	if err := os.WriteFile(flag(1), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	list := watchUntil("an incident for v1's crash loop", func(l []store.Incident) bool { return len(l) > 0 })
	in := list[0]
	if len(list) != 1 || in.Cause != store.CauseCrashLoop || in.Release != 1 || in.ResolvedAt != nil ||
		!strings.Contains(in.Title, "v1 is crash-looping") || !strings.Contains(in.Details, "exit code 3") {
		t.Fatalf("incidents = %+v; want one open crash_loop incident of v1 saying how it ended", list)
	}
	eventually(t, "a restart of v1 while it crash-loops", 30*time.Second, func() bool {
		return restarts(h.workloads("shop")[1]) >= 2
	})
	for range 3 {
		if err := h.m.WatchCrashes(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if list := incidents(); len(list) != 1 || list[0].ResolvedAt != nil {
		t.Fatalf("incidents while v1 still crash-loops = %+v; want the one, open", list)
	}

	// It recovers: resolved by itself.
	if err := os.Remove(flag(1)); err != nil {
		t.Fatal(err)
	}
	list = watchUntil("v1's incident resolved", func(l []store.Incident) bool { return len(l) == 1 && l[0].ResolvedAt != nil })
	if list[0].ResolvedBy != 1 {
		t.Errorf("resolved by v%d, want v1 (it recovered)", list[0].ResolvedBy)
	}
	h.mustServe("shop", 1, "one")

	// v2 goes live and crash-loops; a rollback to v1 resolves its incident.
	h.mustDeploy("shop", files("two"))
	eventually(t, "v2's grace period over", 10*time.Second, func() bool {
		return strings.Contains(strings.Join(h.events("shop", 2), " "), "release.trusted")
	})
	if err := os.WriteFile(flag(2), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	list = watchUntil("an incident for v2", func(l []store.Incident) bool { return len(l) == 2 })
	if list[0].Release != 2 || list[0].ResolvedAt != nil {
		t.Fatalf("newest incident %+v; want v2's, open", list[0])
	}
	if _, _, err := h.m.Rollback(h.ctx, "shop", 1, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	list = watchUntil("v2's incident resolved", func(l []store.Incident) bool { return l[0].ResolvedAt != nil })
	if list[0].ResolvedBy != 1 {
		t.Errorf("v2's incident resolved by v%d, want v1 (the rollback)", list[0].ResolvedBy)
	}

	// Every step is in the event log, at the incident's times, with the
	// releases that caused and resolved it.
	// An incident's event is recorded just after the incident itself.
	var evs []store.Event
	eventually(t, "the incidents' four events", 10*time.Second, func() bool {
		var err error
		evs, err = h.store.Events(h.ctx, store.EventQuery{App: "shop", Types: []string{"incident.opened", "incident.resolved"}})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) >= 4
	})
	var got []string
	for _, e := range evs {
		var d struct {
			Incident   int64  `json:"incident"`
			Cause      string `json:"cause"`
			ResolvedBy int    `json:"resolved_by"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Type+" v"+strconv.Itoa(e.Release)+" "+d.Cause)
	}
	want := "incident.opened v1 crash_loop|incident.resolved v1 |incident.opened v2 crash_loop|incident.resolved v1 "
	if strings.Join(got, "|") != want {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "|"), want)
	}
	if !evs[0].Time.Equal(list[1].OpenedAt) || !evs[3].Time.Equal(*list[0].ResolvedAt) {
		t.Errorf("event times %v, %v; want the incidents' %v, %v", evs[0].Time, evs[3].Time, list[1].OpenedAt, *list[0].ResolvedAt)
	}
}
