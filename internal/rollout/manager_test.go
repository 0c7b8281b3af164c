package rollout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// TestConcurrentDeploys starts deploys of one app at the same time: they run one
// after the other, each gets its own version, and one release is live at the end.
func TestConcurrentDeploys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	const n = 3
	var wg sync.WaitGroup
	results := make([]store.Release, n)
	errs := make([]error, n)
	for i := range n {
		src := source(t, pyApp(t, "same", nil))
		wg.Go(func() {
			results[i], errs[i] = h.m.Deploy(h.ctx, "shop", src, nil)
		})
	}
	wg.Wait()
	var versions []int
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("deploy %d: %v", i, errs[i])
		}
		versions = append(versions, results[i].Version)
	}
	slices.Sort(versions)
	if !slices.Equal(versions, []int{1, 2, 3}) {
		t.Errorf("versions = %v; want 1, 2, 3", versions)
	}
	releases, err := h.store.ListReleases(h.ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, r := range releases {
		if r.Status == store.StatusLive {
			live = append(live, r.Version)
		}
	}
	// The versions are assigned under the app's lock, so the last deploy to run
	// has the highest one.
	if !slices.Equal(live, []int{3}) {
		t.Errorf("live releases = %v; want [3]", live)
	}
	h.mustServe("shop", 3, "same")
}

// TestBusy holds the app's lock with a deploy whose build waits, and checks that
// every other operation on the app gives up with ErrBusy when its context ends,
// while other apps are not held up.
func TestBusy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.createApp("other")
	gate := filepath.Join(t.TempDir(), "gate")
	slow := source(t, pyApp(t, "slow", map[string]string{
		"prosper.yaml": "build: while [ ! -e " + gate + " ]; do sleep 0.02; done\n",
	}))
	done := make(chan error, 1)
	go func() {
		_, err := h.m.Deploy(h.ctx, "shop", slow, nil)
		done <- err
	}()
	eventually(t, "the deploy to hold the lock", 10*time.Second, func() bool { return h.m.Deploying("shop") })
	if h.m.Deploying("other") {
		t.Error("Deploying(other) = true")
	}

	ops := map[string]func(ctx context.Context) error{
		"deploy": func(ctx context.Context) error {
			_, err := h.m.Deploy(ctx, "shop", source(t, pyApp(t, "x", nil)), nil)
			return err
		},
		"rollback": func(ctx context.Context) error {
			_, _, err := h.m.Rollback(ctx, "shop", 0, nil)
			return err
		},
		"reconfigure": func(ctx context.Context) error {
			_, err := h.m.Reconfigure(ctx, "shop", map[string]string{"A": "1"}, nil, nil)
			return err
		},
		"delete": func(ctx context.Context) error { return h.m.DeleteApp(ctx, "shop") },
	}
	for name, op := range ops {
		// On a loaded machine the deadline can pass before the lock is even
		// asked for (in the store lookup before it); then the error is the
		// deadline alone. Either way the operation must give up, not run.
		ctx, cancel := context.WithTimeout(h.ctx, 300*time.Millisecond)
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while deploying: err = %v; want ErrBusy or the deadline", name, err)
		}
	}
	// Another app deploys meanwhile.
	h.mustDeploy("other", pyApp(t, "other", nil))

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("held deploy: %v", err)
	}
	if h.m.Deploying("shop") {
		t.Error("Deploying(shop) = true after the deploy")
	}
	if cfg, _ := h.store.Config(h.ctx, "shop"); len(cfg) != 0 {
		t.Errorf("config = %v; the busy reconfigure must not change it", cfg)
	}
	h.mustServe("shop", 1, "slow")
}

func TestURL(t *testing.T) {
	tests := []struct {
		domain, routerURL, want string
	}{
		{"", "", "http://shop.localhost"},
		{"", "http://127.0.0.1:8080", "http://shop.localhost:8080"},
		{"", "http://127.0.0.1:80", "http://shop.localhost"},
		{"apps.example.com", "https://10.0.0.1", "https://shop.apps.example.com"},
		{"", "not a url", "http://shop.localhost"},
	}
	for _, tt := range tests {
		m := New(nil, nil, nil, nil, Options{Domain: tt.domain, RouterURL: tt.routerURL}, nil)
		if got := m.URL("shop"); got != tt.want {
			t.Errorf("URL with domain %q router %q = %q; want %q", tt.domain, tt.routerURL, got, tt.want)
		}
	}
	m := New(nil, nil, nil, nil, Options{}, nil)
	if got := m.Hosts(store.App{Name: "shop", Domains: []string{"shop.example.com"}}); !slices.Equal(got, []string{"shop.localhost", "shop.example.com"}) {
		t.Errorf("Hosts = %v", got)
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Reason: "unpack source: bad gzip"}
	if e.Error() != "unpack source: bad gzip" {
		t.Errorf("Error() = %q", e.Error())
	}
	e.Release.Version = 4
	if e.Error() != "release v4 failed: unpack source: bad gzip" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestCrashWords(t *testing.T) {
	tests := []struct {
		name string
		st   runtime.Status
		want string
	}{
		{"never exited", runtime.Status{Replicas: []runtime.ReplicaStatus{{State: runtime.StateStarting}}}, "no process has exited"},
		{"exit code", runtime.Status{Replicas: []runtime.ReplicaStatus{{}, {LastExit: "exit code 2", Restarts: 1}}},
			"the process ended with exit code 2 (restarted once)"},
		{"stderr tail", runtime.Status{Replicas: []runtime.ReplicaStatus{{LastExit: "killed by signal SIGSEGV", Restarts: 3,
			StderrTail: []string{"1", "2", "3", "4", "5", "6"}}}},
			"the process ended with killed by signal SIGSEGV (restarted 3 times); last stderr: 2 | 3 | 4 | 5 | 6"},
	}
	for _, tt := range tests {
		if got := CrashWords(tt.st); got != tt.want {
			t.Errorf("%s: CrashWords = %q; want %q", tt.name, got, tt.want)
		}
	}
}
