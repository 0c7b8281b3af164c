package rollout

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// TestRecoverInterrupted restarts the control plane after it died in the middle of
// deploys: one release still building, and one running and already switched to by
// the router but not yet recorded as live. Both become failed, their processes
// stop, and the live release serves without a dropped request.
func TestRecoverInterrupted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	one := h.mustDeploy("shop", pyApp(t, "one", nil))
	// Another app whose live release is gone, so that Recover has to start it
	// and wait for it.
	h.createApp("other")
	h.mustDeploy("other", pyApp(t, "other", nil))
	if err := h.sup.Stop(h.ctx, WorkloadID("other", 1)); err != nil {
		t.Fatal(err)
	}

	building, err := h.store.CreateRelease(h.ctx, store.Release{App: "shop", Status: store.StatusBuilding, Source: "git"})
	if err != nil {
		t.Fatal(err)
	}
	verifying, err := h.store.CreateRelease(h.ctx, store.Release{App: "shop", Status: store.StatusVerifying, Source: "git",
		Artifact: one.Artifact, Command: one.Command})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := h.m.spec(verifying)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sup.Start(h.ctx, spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "v3 ready", 10*time.Second, func() bool { return h.workloads("shop")[3].Ready() })
	// The router moved to v3; then the control plane died before Promote.
	h.m.routesMu.Lock()
	err = h.m.pushRoutes(h.ctx, map[string]int{"shop": 3})
	h.m.routesMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	h.mustServe("shop", 3, "one")

	// Users keep sending requests while the new control plane recovers.
	var failures, served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			a, err := h.get("shop", "/")
			if err != nil || a.Status != http.StatusOK {
				if failures.Add(1) <= 3 {
					t.Logf("request during recovery: %+v, %v", a, err)
				}
			} else {
				served.Add(1)
			}
		}
	})
	m := New(h.store, h.sup, h.routes, &build.Builder{}, h.m.opts, testLogger())
	err = m.Recover(h.ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during recovery", n, n+served.Load())
	}

	for _, v := range []int{building.Version, verifying.Version} {
		r := h.release("shop", v)
		if r.Status != store.StatusFailed || !slices.Equal(r.Reasons, []string{interruptedReason}) || r.FinishedAt == nil {
			t.Errorf("v%d = %s %q; want failed as interrupted", v, r.Status, r.Reasons)
		}
		if got := h.events("shop", v); !slices.Equal(got, []string{"release.failed"}) {
			t.Errorf("v%d events = %v; want release.failed", v, got)
		}
	}
	if got := h.running("shop"); !slices.Equal(got, []int{1}) {
		t.Errorf("shop runs %v; want [1]", got)
	}
	h.mustServe("shop", 1, "one")
	if !h.workloads("other")[1].Ready() {
		t.Errorf("other v1 is not running ready")
	}
	h.mustServe("other", 1, "other")
}

// TestRecoverNewNode starts the control plane against a data plane that lost its
// processes (a new machine): the live releases start again, the replaced ones do
// not, and one that cannot start does not keep the others down.
func TestRecoverNewNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", map[string]string{"prosper.yaml": "replicas: 2\n"}))
	h.createApp("broken")
	b := h.mustDeploy("broken", pyApp(t, "b", nil))
	h.createApp("new") // never deployed

	h.stopNode()
	h.newNode()
	if err := os.RemoveAll(b.Artifact); err != nil {
		t.Fatal(err)
	}
	if a, err := h.get("shop", "/"); err != nil || a.Status != http.StatusNotFound {
		t.Fatalf("new router answers %+v, %v; want 404 before recovery", a, err)
	}
	if err := h.m.Recover(h.ctx); err != nil {
		t.Fatal(err)
	}
	st := h.workloads("shop")
	if len(st) != 1 || len(st[2].Replicas) != 2 || !st[2].Ready() {
		t.Errorf("shop workloads = %+v; want v2 alone with 2 ready replicas", st)
	}
	h.mustServe("shop", 2, "two")
	if a, err := h.get("broken", "/"); err != nil || a.Status != http.StatusServiceUnavailable {
		t.Errorf("broken app answers %+v, %v; want 503", a, err)
	}
	if a, err := h.get("new", "/"); err != nil || a.Status != http.StatusServiceUnavailable {
		t.Errorf("app never deployed answers %+v, %v; want 503", a, err)
	}
	if h.release("shop", 2).Status != store.StatusLive {
		t.Errorf("v2 is not live after recovery")
	}
}

// TestSweep checks which workloads a sweep stops: the newest replaced release
// stays warm, an older one is stopped once its requests are done, and failed
// releases and those of deleted apps are stopped at once.
func TestSweep(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")
	one := h.mustDeploy("shop", pyApp(t, "one", nil))

	// A request to v1 is in flight across two deploys.
	release := filepath.Join(t.TempDir(), "release")
	type result struct {
		a   answer
		err error
	}
	held := make(chan result, 1)
	go func() {
		a, err := h.get("shop", "/hold?until="+release)
		held <- result{a, err}
	}()
	eventually(t, "a request in flight on v1", 10*time.Second, func() bool {
		n, _ := h.routes.InFlight(h.ctx, "shop", 1)
		return n == 1
	})
	h.mustDeploy("shop", pyApp(t, "two", nil))
	h.mustDeploy("shop", pyApp(t, "three", nil))

	// Leftovers: a failed release still running, and an app deleted behind the
	// runtime's back.
	failed, err := h.store.CreateRelease(h.ctx, store.Release{App: "shop", Status: store.StatusFailed, Artifact: one.Artifact, Command: one.Command})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []runtime.Spec{
		{ID: WorkloadID("shop", failed.Version), App: "shop", Release: failed.Version, Artifact: one.Artifact, Command: one.Command},
		{ID: WorkloadID("ghost", 1), App: "ghost", Release: 1, Artifact: one.Artifact, Command: one.Command},
	} {
		if err := h.sup.Start(h.ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.m.Sweep(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.running("shop"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("after the first sweep shop runs %v; want [1 2 3]", got)
	}
	if got := h.running("ghost"); len(got) != 0 {
		t.Errorf("after the first sweep the deleted app runs %v; want nothing", got)
	}

	// Past the drain grace, v1 still has its request and v2 is warm.
	replaced := *h.release("shop", 1).FinishedAt
	h.sweepUntil("the drain grace to pass", 10*time.Second, func() bool {
		if got := h.running("shop"); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("shop runs %v %s after v1 was replaced; want [1 2 3]", got, time.Since(replaced))
		}
		return time.Since(replaced) > drainGrace+200*time.Millisecond
	})

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := <-held; r.err != nil || r.a.Status != http.StatusOK || r.a.Release != "v1" || r.a.Tag != "one" {
		t.Errorf("held request = %+v, %v; want 200 from v1", r.a, r.err)
	}
	h.sweepUntil("v1 stopped", 10*time.Second, func() bool { return !slices.Contains(h.running("shop"), 1) })
	if got := h.running("shop"); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("shop runs %v; want [2 3]: v2 is kept warm", got)
	}
	h.mustServe("shop", 3, "three")
}

// TestRunStopsAfterWarm checks that the background sweep keeps the replaced
// release for the warm time and then stops it.
func TestRunStopsAfterWarm(t *testing.T) {
	t.Parallel()
	const warm = 3 * time.Second
	h := newHarness(t, Options{Warm: warm})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", nil))
	replaced := *h.release("shop", 1).FinishedAt

	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		h.m.Run(ctx, 50*time.Millisecond)
		close(done)
	}()
	eventually(t, "v1 stopped", 15*time.Second, func() bool { return !slices.Contains(h.running("shop"), 1) })
	if took := time.Since(replaced); took < warm {
		t.Errorf("v1 stopped %s after it was replaced; want it warm for %s", took, warm)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	if got := h.running("shop"); !slices.Equal(got, []int{2}) {
		t.Errorf("shop runs %v; want [2]", got)
	}
}
