package rollout

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// TestRollback rolls back to a release that is still warm (an instant switch) and
// to one the sweep has stopped (started and health-checked first).
func TestRollback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		warm    time.Duration
		stopped bool // wait for the sweep to stop v1 before rolling back
	}{
		{name: "warm", warm: time.Hour},
		{name: "cold", warm: 0, stopped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Warm: tt.warm})
			h.createApp("shop")
			h.mustDeploy("shop", pyApp(t, "one", nil))
			h.mustDeploy("shop", pyApp(t, "two", nil))
			if tt.stopped {
				h.sweepUntil("v1 stopped", 10*time.Second, func() bool { return !slices.Contains(h.running("shop"), 1) })
			}

			var out bytes.Buffer
			rel, instant, err := h.m.Rollback(h.ctx, "shop", 0, &out)
			if err != nil {
				t.Fatalf("rollback: %v\n%s", err, out.String())
			}
			if instant == tt.stopped {
				t.Errorf("instant = %v; want %v", instant, !tt.stopped)
			}
			if rel.Version != 1 || rel.Status != store.StatusLive {
				t.Errorf("rolled back to v%d %s; want v1 live", rel.Version, rel.Status)
			}
			if two := h.release("shop", 2); two.Status != store.StatusRolledBack || two.FinishedAt == nil {
				t.Errorf("v2 = %s finished %v; want rolled_back with finished_at", two.Status, two.FinishedAt)
			}
			h.mustServe("shop", 1, "one")
			data := h.eventData("shop", "release.rolled_back")
			if data["from"] != 2.0 || data["to"] != 1.0 || data["instant"] != instant {
				t.Errorf("release.rolled_back data = %v", data)
			}
			if want := "rolled back shop to v1"; !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}

			// Rolling back again goes to neither release: v2 was rolled back
			// and v1 is live.
			if _, _, err := h.m.Rollback(h.ctx, "shop", 0, nil); !errors.Is(err, ErrNothingToRollBack) {
				t.Errorf("second rollback: err = %v; want ErrNothingToRollBack", err)
			}
			// Naming v2 brings it back.
			rel, _, err = h.m.Rollback(h.ctx, "shop", 2, nil)
			if err != nil || rel.Version != 2 {
				t.Fatalf("rollback to v2 = v%d, %v", rel.Version, err)
			}
			h.mustServe("shop", 2, "two")
		})
	}
}

// TestRollbackColdFailure checks that a release that cannot start again is not
// switched to: the live one keeps serving.
func TestRollbackColdFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	one := h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", nil))
	h.sweepUntil("v1 stopped", 10*time.Second, func() bool { return !slices.Contains(h.running("shop"), 1) })
	// Break v1's artifact, as a disk that lost a file would.
	if err := os.WriteFile(filepath.Join(one.Artifact, "app.py"), []byte("raise SystemExit(9)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := h.m.Rollback(h.ctx, "shop", 1, nil)
	if err == nil || !strings.Contains(err.Error(), "roll back to v1") || !strings.Contains(err.Error(), "exit code 9") {
		t.Fatalf("err = %v; want a failed rollback to v1 that says how it crashed", err)
	}
	if h.live("shop") != 2 {
		t.Errorf("live = v%d; want v2", h.live("shop"))
	}
	if got := h.running("shop"); !slices.Equal(got, []int{2}) {
		t.Errorf("running = %v; want [2]", got)
	}
	h.mustServe("shop", 2, "two")
}

func TestRollbackTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("empty")
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	if _, _, err := h.deploy("shop", pyApp(t, "x", map[string]string{"prosper.yaml": "build: exit 1\n"})); err == nil {
		t.Fatal("broken build succeeded")
	}
	h.createApp("single")
	h.mustDeploy("single", pyApp(t, "one", nil))

	tests := []struct {
		name    string
		app     string
		version int
		is      error
		msg     string
	}{
		{name: "no release", app: "empty", is: ErrNothingToRollBack},
		{name: "only the live release", app: "single", is: ErrNothingToRollBack, msg: "none went live before v1"},
		{name: "failed release not counted", app: "shop", is: ErrNothingToRollBack},
		{name: "already live", app: "shop", version: 1, msg: "v1 is already live"},
		{name: "failed release", app: "shop", version: 2, msg: "v2 never built successfully (status failed)"},
		{name: "unknown release", app: "shop", version: 9, msg: "shop has no release v9"},
		{name: "unknown app", app: "ghost", is: store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.m.Rollback(h.ctx, tt.app, tt.version, nil)
			if err == nil {
				t.Fatal("rollback succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v; want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v; want it to say %q", err, tt.msg)
			}
		})
	}
	if h.live("shop") != 1 || h.live("single") != 1 {
		t.Errorf("live releases changed")
	}
}

func TestReconfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")

	// Without a live release the vars wait for the first deploy.
	var out bytes.Buffer
	rel, err := h.m.Reconfigure(h.ctx, "shop", map[string]string{"MSG": "first"}, nil, &out)
	if err != nil || rel.Version != 0 {
		t.Fatalf("reconfigure before any deploy = v%d, %v; want nothing released", rel.Version, err)
	}
	if !strings.Contains(out.String(), "the first deploy of shop will use it") {
		t.Errorf("output = %q", out.String())
	}
	one := h.mustDeploy("shop", pyApp(t, "one", map[string]string{"prosper.yaml": "replicas: 2\n"}))
	if a := h.mustServe("shop", 1, "one"); a.Msg != "first" {
		t.Errorf("MSG = %q; want first", a.Msg)
	}

	rel, err = h.m.Reconfigure(h.ctx, "shop", map[string]string{"MSG": "hello"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 2 || rel.Status != store.StatusLive || rel.Source != "config" || rel.Env["MSG"] != "hello" {
		t.Errorf("release = v%d %s source %s env %v; want v2 live from config with MSG=hello", rel.Version, rel.Status, rel.Source, rel.Env)
	}
	if rel.Artifact != one.Artifact || rel.Commit != one.Commit {
		t.Errorf("v2 artifact %s commit %s; want v1's %s %s", rel.Artifact, rel.Commit, one.Artifact, one.Commit)
	}
	if a := h.mustServe("shop", 2, "one"); a.Msg != "hello" {
		t.Errorf("MSG = %q; want hello", a.Msg)
	}
	if st := h.workloads("shop")[2]; len(st.Replicas) != 2 {
		t.Errorf("v2 runs %d replicas; want the 2 of prosper.yaml", len(st.Replicas))
	}
	if h.release("shop", 1).Status != store.StatusSuperseded {
		t.Errorf("v1 is %s; want superseded", h.release("shop", 1).Status)
	}
	if got, want := h.events("shop", 2), []string{"deploy.started", "release.promoted"}; !slices.Equal(got, want) {
		t.Errorf("v2 events = %v; want %v", got, want)
	}
	if got := h.events("shop", 0); !slices.Contains(got, "config.changed") {
		t.Errorf("events %v: no config.changed", got)
	}

	rel, err = h.m.Reconfigure(h.ctx, "shop", nil, []string{"MSG"}, nil)
	if err != nil || rel.Version != 3 {
		t.Fatalf("unset = v%d, %v", rel.Version, err)
	}
	if a := h.mustServe("shop", 3, "one"); a.Msg != "" {
		t.Errorf("MSG = %q after unset; want empty", a.Msg)
	}
	// The next deploy keeps the config.
	h.mustDeploy("shop", pyApp(t, "four", nil))
	cfg, _ := h.store.Config(h.ctx, "shop")
	if len(cfg) != 0 {
		t.Errorf("config = %v; want empty", cfg)
	}

	// Invalid vars change nothing.
	if _, err := h.m.Reconfigure(h.ctx, "shop", map[string]string{"1BAD": "x"}, nil, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad name: err = %v; want ErrInvalid", err)
	}
	if h.live("shop") != 4 {
		t.Errorf("live = v%d; want v4", h.live("shop"))
	}
}

// TestReconfigureFailure checks that a config change whose release does not
// start leaves the live release serving.
func TestReconfigureFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", map[string]string{
		// The app refuses to start when MSG is "crash".
		"Procfile": "web: test \"$MSG\" != crash && exec " + python(t) + " app.py\n",
	}))
	rel, err := h.m.Reconfigure(h.ctx, "shop", map[string]string{"MSG": "crash"}, nil, nil)
	e := failedRelease(t, rel, err)
	if !strings.Contains(e.Reason, "exit code 1") {
		t.Errorf("reason = %q; want the exit code", e.Reason)
	}
	if h.live("shop") != 1 {
		t.Errorf("live = v%d; want v1", h.live("shop"))
	}
	h.mustServe("shop", 1, "one")
	if got := h.running("shop"); !slices.Equal(got, []int{1}) {
		t.Errorf("running = %v; want [1]", got)
	}
}

// TestRollbackAfterFixForward rolls back by version, then deploys a fix: the
// release the fix replaced, not the one with the highest number, is kept warm and
// is where a rollback goes.
func TestRollbackAfterFixForward(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", nil))
	h.mustDeploy("shop", pyApp(t, "three", nil))
	if _, _, err := h.m.Rollback(h.ctx, "shop", 1, nil); err != nil {
		t.Fatal(err)
	}
	h.mustDeploy("shop", pyApp(t, "four", nil)) // replaces v1
	replaced := *h.release("shop", 1).FinishedAt
	h.sweepUntil("the drain grace to pass", 10*time.Second, func() bool {
		return time.Since(replaced) > drainGrace+200*time.Millisecond
	})
	if got := h.running("shop"); !slices.Equal(got, []int{1, 4}) {
		t.Errorf("shop runs %v; want [1 4]: v1 was live before v4 and stays warm", got)
	}
	rel, instant, err := h.m.Rollback(h.ctx, "shop", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 1 || !instant {
		t.Errorf("rollback went to v%d (instant %v); want v1, instantly", rel.Version, instant)
	}
	h.mustServe("shop", 1, "one")
}
