package rollout

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
)

func TestDeployGoesLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")

	rel, out, err := h.deploy("shop", pyApp(t, "one", nil))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if rel.Version != 1 || rel.Status != store.StatusLive || rel.LiveAt == nil {
		t.Fatalf("release = v%d %s live_at %v; want v1 live with live_at", rel.Version, rel.Status, rel.LiveAt)
	}
	stored := h.release("shop", 1)
	for _, phase := range []string{"receive", "build", "start", "health", "switch"} {
		if _, ok := stored.Phases[phase]; !ok {
			t.Errorf("phases %v: no %s", stored.Phases, phase)
		}
	}
	if stored.Artifact == "" || stored.Command == "" || stored.Commit != "0123456789abcdef" || stored.Source != "deploy" {
		t.Errorf("stored release = %+v; want artifact, command, commit and source", stored)
	}
	if _, err := os.Stat(stored.BuildLog); err != nil {
		t.Errorf("build log: %v", err)
	}
	for _, want := range []string{"building shop v1 from commit 0123456789", "v1 is live at http://shop.localhost:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got, want := h.events("shop", 1), []string{"deploy.started", "build.succeeded", "release.promoted"}; !slices.Equal(got, want) {
		t.Errorf("events = %v; want %v", got, want)
	}
	h.mustServe("shop", 1, "one")

	// A second deploy replaces the first, which stays warm.
	two := h.mustDeploy("shop", pyApp(t, "two", nil))
	if two.Version != 2 {
		t.Fatalf("second release is v%d; want v2", two.Version)
	}
	h.mustServe("shop", 2, "two")
	one := h.release("shop", 1)
	if one.Status != store.StatusSuperseded || one.FinishedAt == nil {
		t.Errorf("v1 = %s, finished %v; want superseded with finished_at", one.Status, one.FinishedAt)
	}
	if got := h.running("shop"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("running releases = %v; want [1 2] (v1 warm)", got)
	}
	if prev := h.eventData("shop", "release.promoted")["previous"]; prev != 1.0 {
		t.Errorf("release.promoted previous = %v; want 1", prev)
	}
}

func TestDeployGoApp(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	h := newHarness(t, Options{})
	h.createApp("api")
	rel := h.mustDeploy("api", map[string]string{
		"go.mod": "module example.com/api\n\ngo 1.22\n",
		"main.go": `package main

import (
	"encoding/json"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"release": os.Getenv("PROSPER_RELEASE"), "tag": "go"})
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`,
	})
	if rel.Command != ".prosper/bin/app" {
		t.Errorf("command = %q; want the Go binary", rel.Command)
	}
	if kind := h.eventData("api", "build.succeeded")["kind"]; kind != "go" {
		t.Errorf("build kind = %v; want go", kind)
	}
	h.mustServe("api", 1, "go")
}

// TestDeployFailures deploys broken trees over a live release: each is recorded
// as failed with a reason that says why, and the live release keeps serving.
func TestDeployFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.createApp("other")
	h.mustDeploy("other", pyApp(t, "other", map[string]string{"prosper.yaml": "domains: [taken.example.com]\n"}))
	h.mustDeploy("shop", pyApp(t, "live", nil))

	tests := []struct {
		name    string
		files   map[string]string
		reason  []string // substrings of the reason
		event   string
		phase   string
		log     string // substring of the build log; "" when there is no build log
		noBuild bool
	}{{
		name:   "build command fails",
		files:  pyApp(t, "x", map[string]string{"prosper.yaml": "build: echo compiling; echo broken >&2; exit 3\n"}),
		reason: []string{"exited with code 3", "broken"},
		event:  "build.failed", phase: "build",
		log: "compiling",
	}, {
		name: "Go compile error",
		files: map[string]string{
			"go.mod":  "module example.com/shop\n\ngo 1.22\n",
			"main.go": "package main\n\nfunc main() { undefinedThing() }\n",
		},
		reason: []string{"go build", "undefined: undefinedThing"},
		event:  "build.failed", phase: "build",
		log: "undefined: undefinedThing",
	}, {
		name:   "malformed prosper.yaml",
		files:  pyApp(t, "x", map[string]string{"prosper.yaml": "team: payments\nreplicas: lots\n"}),
		reason: []string{"prosper.yaml:2:", "replicas"},
		event:  "build.failed", phase: "build",
	}, {
		name:   "unknown key in prosper.yaml",
		files:  pyApp(t, "x", map[string]string{"prosper.yaml": "team: payments\n\nbuidl: make\n"}),
		reason: []string{"prosper.yaml:3:", `did you mean "build"`},
		event:  "build.failed", phase: "build",
	}, {
		name:   "nothing says how to run",
		files:  map[string]string{"README": "hello\n"},
		reason: []string{"Procfile"},
		event:  "build.failed", phase: "build",
	}, {
		name:   "domain of another app",
		files:  pyApp(t, "x", map[string]string{"prosper.yaml": "domains: [taken.example.com]\n"}),
		reason: []string{`"taken.example.com" is already served by app "other"`},
		event:  "build.failed", phase: "build",
	}, {
		name:   "process exits at once",
		files:  pyApp(t, "x", map[string]string{"Procfile": "web: echo no database >&2; exit 4\n"}),
		reason: []string{"crashed", "exit code 4", "no database"},
		event:  "release.failed", phase: "health",
		log: "$", // the build log exists (empty: nothing to build)
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.running("shop")
			rel, out, err := h.deploy("shop", tt.files)
			e := failedRelease(t, rel, err)
			for _, want := range tt.reason {
				if !strings.Contains(e.Reason, want) {
					t.Errorf("reason %q lacks %q", e.Reason, want)
				}
			}
			stored := h.release("shop", rel.Version)
			if stored.Status != store.StatusFailed || !slices.Equal(stored.Reasons, []string{e.Reason}) || stored.FinishedAt == nil {
				t.Errorf("stored = %s %q finished %v; want failed with the reason", stored.Status, stored.Reasons, stored.FinishedAt)
			}
			if !strings.Contains(out, "v1 is still live") {
				t.Errorf("output does not say the live release is still live:\n%s", out)
			}
			if tt.log != "" {
				b, err := os.ReadFile(stored.BuildLog)
				if err != nil {
					t.Errorf("build log: %v", err)
				} else if tt.log != "$" && !strings.Contains(string(b), tt.log) {
					t.Errorf("build log lacks %q:\n%s", tt.log, b)
				}
			}
			want := []string{"deploy.started", tt.event}
			if tt.event == "release.failed" {
				want = []string{"deploy.started", "build.succeeded", tt.event}
			}
			if got := h.events("shop", rel.Version); !slices.Equal(got, want) {
				t.Errorf("events = %v; want %v", got, want)
			}
			if phase := h.eventData("shop", tt.event)["phase"]; phase != tt.phase {
				t.Errorf("%s phase = %v; want %s", tt.event, phase, tt.phase)
			}
			if got := h.running("shop"); !slices.Equal(got, before) {
				t.Errorf("running releases = %v; want %v: the failed one must be stopped", got, before)
			}
			if h.live("shop") != 1 {
				t.Errorf("live release is v%d; want v1", h.live("shop"))
			}
			h.mustServe("shop", 1, "live")
		})
	}
	if a, err := h.store.GetApp(h.ctx, "shop"); err != nil || a.Team != "" || len(a.Domains) != 0 {
		t.Errorf("app after failed deploys = %+v, %v; want team and domains untouched", a, err)
	}
}

// TestDeployNeverHealthy checks that a release that never passes its health check
// fails after the health timeout and is stopped.
func TestDeployNeverHealthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration // Options.HealthTimeout
		files   map[string]string
		reason  string
	}{{
		name:    "port never opens",
		timeout: time.Second,
		files:   map[string]string{"Procfile": "web: exec sleep 30\n"},
		reason:  "v1 did not become healthy within 1s (the port to accept connections)",
	}, {
		name:    "prosper.yaml health_timeout wins",
		timeout: 30 * time.Second,
		files:   map[string]string{"Procfile": "web: exec sleep 30\n", "prosper.yaml": "health_timeout: 1s\n"},
		reason:  "v1 did not become healthy within 1s",
	}, {
		// It ends once before the deadline and has not been restarted yet.
		name:    "process gives up",
		timeout: time.Second,
		files:   map[string]string{"Procfile": "web: sleep 0.7; echo gave up >&2; exit 5\n"},
		reason:  "v1 did not become healthy within 1s (the port to accept connections): the process ended with exit code 5 (restarted 0 times); last stderr: gave up",
	}, {
		name:    "health path answers 503",
		timeout: time.Second,
		files:   pyApp(t, "x", map[string]string{"prosper.yaml": "health: /healthz\n", "health.txt": "503"}),
		reason:  "v1 did not become healthy within 1s (GET /healthz to answer 2xx)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{HealthTimeout: tt.timeout})
			h.createApp("shop")
			started := time.Now()
			rel, _, err := h.deploy("shop", tt.files)
			took := time.Since(started)
			e := failedRelease(t, rel, err)
			if !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("reason %q; want %q", e.Reason, tt.reason)
			}
			if took > 10*time.Second {
				t.Errorf("deploy took %s; want about the 1s health timeout", took)
			}
			if got := h.running("shop"); len(got) != 0 {
				t.Errorf("running releases = %v; want none", got)
			}
			if _, ok := h.release("shop", 1).Phases["start"]; !ok {
				t.Errorf("phases %v: want start recorded", h.release("shop", 1).Phases)
			}
			if a, err := h.get("shop", "/"); err != nil || a.Status == http.StatusOK {
				t.Errorf("GET = %+v, %v; want an error: the app never had a live release", a, err)
			}
		})
	}
}

// TestDeployCrashFailsFast checks that a release whose process keeps exiting is
// declared broken after a few restarts, long before the health timeout.
func TestDeployCrashFailsFast(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{HealthTimeout: 30 * time.Second})
	h.createApp("shop")
	started := time.Now()
	rel, out, err := h.deploy("shop", map[string]string{"Procfile": "web: echo cannot open config.toml >&2; exit 7\n"})
	took := time.Since(started)
	e := failedRelease(t, rel, err)
	for _, want := range []string{"crashed", "exit code 7", "cannot open config.toml"} {
		if !strings.Contains(e.Reason, want) {
			t.Errorf("reason %q lacks %q", e.Reason, want)
		}
	}
	if took > 15*time.Second {
		t.Errorf("deploy took %s; want it to fail well before the 30s health timeout", took)
	}
	if !strings.Contains(out, "v1 failed: ") {
		t.Errorf("output does not say v1 failed:\n%s", out)
	}
	if got := h.running("shop"); len(got) != 0 {
		t.Errorf("running releases = %v; want none", got)
	}
}

// TestDeploySwitchFails checks that a release the router could not be switched to
// is failed and stopped, and the live one keeps serving.
func TestDeploySwitchFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))

	h.routes.mu.Lock()
	h.routes.failSet = errors.New("node unreachable")
	h.routes.mu.Unlock()
	rel, _, err := h.deploy("shop", pyApp(t, "two", map[string]string{"prosper.yaml": "team: growth\ndomains: [two.example.com]\n"}))
	e := failedRelease(t, rel, err)
	if !strings.Contains(e.Reason, "switch router: node unreachable") {
		t.Errorf("reason = %q; want the router error", e.Reason)
	}
	if a, _ := h.store.GetApp(h.ctx, "shop"); a.Team != "" || len(a.Domains) != 0 {
		t.Errorf("app = %+v; want team and domains of v1", a)
	}
	if got := h.running("shop"); !slices.Equal(got, []int{1}) {
		t.Errorf("running releases = %v; want [1]", got)
	}
	if h.live("shop") != 1 {
		t.Errorf("live = v%d; want v1", h.live("shop"))
	}
	h.mustServe("shop", 1, "one")
}

// TestDeployPromoteFails checks that when the store refuses to record the new
// release as live after the router was switched to it, the router goes back to
// the live release before the new one is stopped.
func TestDeployPromoteFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))

	h.routes.mu.Lock()
	h.routes.afterSet = func(tab router.Table) {
		for _, r := range tab.Routes {
			if r.App == "shop" && len(r.Backends) == 1 && r.Backends[0].Release == 2 {
				// Something else decided v2 is no good meanwhile.
				rel := h.release("shop", 2)
				rel.Status = store.StatusFailed
				if err := h.store.UpdateRelease(h.ctx, rel); err != nil {
					t.Error(err)
				}
			}
		}
	}
	h.routes.mu.Unlock()
	rel, _, err := h.deploy("shop", pyApp(t, "two", nil))
	e := failedRelease(t, rel, err)
	if !strings.Contains(e.Reason, "promote shop v2") {
		t.Errorf("reason = %q; want the promote error", e.Reason)
	}
	if h.live("shop") != 1 {
		t.Errorf("live = v%d; want v1", h.live("shop"))
	}
	if got := h.running("shop"); !slices.Equal(got, []int{1}) {
		t.Errorf("running releases = %v; want [1]", got)
	}
	h.mustServe("shop", 1, "one")
}

// TestDeployAppConfig checks that team, domains and replicas of prosper.yaml take
// effect with the release that brings them.
func TestDeployAppConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", map[string]string{
		"prosper.yaml": "team: payments\ndomains: [shop.example.com]\nreplicas: 2\n",
	}))
	a, err := h.store.GetApp(h.ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if a.Team != "payments" || !slices.Equal(a.Domains, []string{"shop.example.com"}) {
		t.Errorf("app = %+v; want team payments and domain shop.example.com", a)
	}
	if st := h.workloads("shop")[1]; len(st.Replicas) != 2 || !st.Ready() {
		t.Errorf("v1 runs %d replicas (ready %v); want 2 ready", len(st.Replicas), st.Ready())
	}
	if ans, err := h.getHost("shop.example.com", "/"); err != nil || ans.Status != http.StatusOK || ans.Tag != "one" {
		t.Errorf("GET shop.example.com = %+v, %v; want 200 from v1", ans, err)
	}

	// A release that fails leaves the app as it was.
	_, _, err = h.deploy("shop", pyApp(t, "two", map[string]string{
		"prosper.yaml": "team: growth\ndomains: [new.example.com]\nbuild: exit 1\n",
	}))
	if err == nil {
		t.Fatal("deploy with a failing build succeeded")
	}
	if a, _ := h.store.GetApp(h.ctx, "shop"); a.Team != "payments" || !slices.Equal(a.Domains, []string{"shop.example.com"}) {
		t.Errorf("app after a failed deploy = %+v; want team and domains unchanged", a)
	}
}

func TestDeployUnknownApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	_, _, err := h.deploy("ghost", pyApp(t, "x", nil))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("err = %v; want ErrNotFound", err)
	}
}

func TestDeployBadArchive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("shop")
	rel, err := h.m.Deploy(h.ctx, "shop", Source{Kind: "deploy", Archive: strings.NewReader("not a tarball")}, nil)
	e := failedRelease(t, rel, err)
	if !strings.Contains(e.Reason, "unpack source") {
		t.Errorf("reason = %q; want unpack source", e.Reason)
	}
	if phase := h.eventData("shop", "build.failed")["phase"]; phase != "receive" {
		t.Errorf("phase = %v; want receive", phase)
	}
	if _, err := os.Stat(filepath.Join(h.opts.DataDir, "releases", "shop", "v1")); err != nil {
		t.Errorf("release dir: %v", err)
	}
}
