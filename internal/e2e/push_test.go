package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

func TestGitPushDeploysAndRecordsCommits(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := newRepo(t)
	r.goApp("v1")
	sha1 := r.commit("first version")

	out, err := r.push(remote, "main")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	// The build streams back as remote: lines and the push ends with the URL.
	for _, want := range []string{"remote: -----> prosper: building shop v1", "remote: =====> shop v1 is live: http://shop.localhost:"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	code, body, rel, err := p.get("shop", "/")
	if err != nil || code != 200 || body != "v1 \n" || rel != "v1" {
		t.Fatalf("GET / = %d %q release %q err %v", code, body, rel, err)
	}

	// A second commit: two commits pushed at once, both recorded.
	r.write("README", "notes\n")
	r.commit("add readme")
	r.goApp("v2")
	sha3 := r.commit("second version")
	r.mustPush(remote)
	p.waitBody("shop", "/", "v2", 5*time.Second)

	var commits []store.Commit
	p.apiGet("/api/apps/shop/commits", &commits)
	if len(commits) != 3 {
		t.Fatalf("recorded %d commits, want 3: %+v", len(commits), commits)
	}
	bySHA := map[string]store.Commit{}
	for _, c := range commits {
		bySHA[c.SHA] = c
	}
	c1, ok := bySHA[sha1]
	if !ok || c1.Author != "Ada Tester <ada@example.com>" || c1.Message != "first version" ||
		c1.AuthorTime.IsZero() || c1.CommitTime.IsZero() || c1.Branch != "main" {
		t.Errorf("first commit recorded as %+v", c1)
	}
	if _, ok := bySHA[sha3]; !ok {
		t.Errorf("commit %s not recorded", sha3)
	}

	rels := p.releases("shop")
	if len(rels) != 2 || rels[0].Version != 2 || rels[0].Status != "live" || rels[1].Status != "superseded" ||
		rels[0].Commit != sha3 || rels[0].Reasons == nil {
		t.Fatalf("releases = %+v", rels)
	}
	// The JSON keys of DESIGN.md.
	raw := p.mustProsper("releases", "shop", "-o", "json")
	var generic []map[string]any
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "status", "commit", "created_at", "reasons"} {
		if _, ok := generic[0][k]; !ok {
			t.Errorf("releases -o json lacks key %q: %s", k, raw)
		}
	}
	// The router counted the requests of each release.
	var metrics []struct {
		Release   int   `json:"release"`
		Requests  int64 `json:"requests"`
		Status2xx int64 `json:"status_2xx"`
	}
	p.apiGet("/api/apps/shop/metrics", &metrics)
	if len(metrics) == 0 || metrics[0].Release != 1 || metrics[0].Requests < 1 || metrics[0].Status2xx < 1 {
		t.Errorf("router metrics: %+v", metrics)
	}
	for _, phase := range []string{"receive", "build", "start", "health", "switch"} {
		if _, ok := rels[0].Phases[phase]; !ok {
			t.Errorf("release lacks phase %q: %v", phase, rels[0].Phases)
		}
	}
}

func TestOtherBranchesAreStoredNotDeployed(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := pushGoApp(t, remote, "v1")
	r.git("checkout", "--quiet", "-b", "feature")
	r.goApp("feature")
	sha := r.commit("feature work")
	out, err := r.push(remote, "feature")
	if err != nil {
		t.Fatalf("push feature: %v\n%s", err, out)
	}
	if !strings.Contains(out, "stored branch feature") {
		t.Errorf("push output does not say the branch is stored:\n%s", out)
	}
	if rels := p.releases("shop"); len(rels) != 1 {
		t.Fatalf("a feature branch push made a release: %+v", rels)
	}
	if _, body, _, _ := p.get("shop", "/"); body != "v1 \n" {
		t.Fatalf("live app changed to %q", body)
	}
	var commits []store.Commit
	p.apiGet("/api/apps/shop/commits", &commits)
	found := false
	for _, c := range commits {
		found = found || (c.SHA == sha && c.Branch == "feature")
	}
	if !found {
		t.Errorf("feature commit not recorded: %+v", commits)
	}
}

func TestDeployWorkingTreeAndProcfileApp(t *testing.T) {
	p := startPlatform(t)
	p.mustProsper("app", "create", "hello", "--team", "web")
	dir := t.TempDir()
	r := &repo{t: t, dir: dir}
	r.write("Procfile", "web: python3 app.py\n")
	r.write("prosper.yaml", "health: /healthz\n"+quickVerify)
	r.write("app.py", `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("python " + os.environ.get("GREETING", "")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`)
	out := p.mustProsper("deploy", dir, "--app", "hello")
	if !strings.Contains(out, "hello v1 is live") {
		t.Fatalf("deploy output:\n%s", out)
	}
	p.waitBody("hello", "/", "python", 5*time.Second)

	// A config change is a new release with the new environment.
	out = p.mustProsper("config", "set", "hello", "GREETING=bonjour")
	if !strings.Contains(out, "v2 is live") {
		t.Fatalf("config set output:\n%s", out)
	}
	p.waitBody("hello", "/", "python bonjour", 5*time.Second)
	var vars map[string]string
	if err := json.Unmarshal([]byte(p.mustProsper("config", "list", "hello", "-o", "json")), &vars); err != nil || vars["GREETING"] != "bonjour" {
		t.Fatalf("config list = %v %v", vars, err)
	}
	p.mustProsper("config", "unset", "hello", "GREETING")
	p.waitBody("hello", "/", "python ", 5*time.Second)
	rels := p.releases("hello")
	if len(rels) != 3 || rels[0].Source != "config" || rels[0].Status != "live" {
		t.Fatalf("releases = %+v", rels)
	}
	var apps []map[string]any
	if err := json.Unmarshal([]byte(p.mustProsper("app", "list", "-o", "json")), &apps); err != nil || len(apps) != 1 || apps[0]["team"] != "web" {
		t.Fatalf("app list = %v %v", apps, err)
	}
}

func TestRollbackInstantWhileWarmAndFreshAfter(t *testing.T) {
	p := startPlatform(t, "--warm", "1h")
	remote := p.createApp("shop")
	r := newRepo(t)
	for _, v := range []string{"v1", "v2"} {
		r.goApp(v)
		r.commit(v)
		if out, err := r.push(remote, "main"); err != nil {
			t.Fatalf("push %s: %v\n%s", v, err, out)
		}
	}
	p.waitBody("shop", "/", "v2", 5*time.Second)
	out := p.mustProsper("rollback", "shop")
	if !strings.Contains(out, "instantly") {
		t.Fatalf("rollback to a warm release was not instant:\n%s", out)
	}
	p.waitBody("shop", "/", "v1", 2*time.Second)
	rels := p.releases("shop")
	if rels[0].Status != "rolled_back" || rels[1].Status != "live" {
		t.Fatalf("after rollback: %+v", rels)
	}
	// Rolling back to v2 by name: it is warm too (kept for an hour).
	p.mustProsper("rollback", "shop", "v2")
	p.waitBody("shop", "/", "v2", 2*time.Second)
	if _, err := p.prosper("rollback", "shop", "v9"); err == nil {
		t.Fatal("rollback to a release that does not exist succeeded")
	}
}

func TestRollbackStartsAColdRelease(t *testing.T) {
	p := startPlatform(t, "--warm", "0s")
	remote := p.createApp("shop")
	r := newRepo(t)
	for _, v := range []string{"v1", "v2"} {
		r.goApp(v)
		r.commit(v)
		if out, err := r.push(remote, "main"); err != nil {
			t.Fatalf("push %s: %v\n%s", v, err, out)
		}
	}
	// With no warm time, v1 is stopped once drained.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Workloads []struct{ Release int } `json:"workloads"`
		}
		p.apiGet("/api/apps/shop/status", &st)
		if len(st.Workloads) == 1 && st.Workloads[0].Release == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v1 still runs: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := p.mustProsper("rollback", "shop")
	if !strings.Contains(out, "after a fresh start") {
		t.Fatalf("rollback output:\n%s", out)
	}
	p.waitBody("shop", "/", "v1", 2*time.Second)
}

func TestConcurrentPushesAreSerializedAndRecorded(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	base := newRepo(t)
	base.goApp("v1")
	base.commit("v1")
	base.mustPush(remote)
	// Two clones, both based on v1, push at the same time.
	clones := []*repo{{t: t, dir: t.TempDir()}, {t: t, dir: t.TempDir()}}
	for i, c := range clones {
		c.git("clone", "--quiet", remote, ".")
		c.goApp([]string{"a", "b"}[i])
		c.commit("change " + []string{"a", "b"}[i])
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i, c := range clones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = c.push(remote, "main")
		}()
	}
	wg.Wait()
	// Exactly one wins; the other is told the branch moved, not left half-deployed.
	won := 0
	for i := range clones {
		if errs[i] == nil {
			won++
		} else if !strings.Contains(outs[i], "moved to") && !strings.Contains(outs[i], "fetch first") {
			t.Errorf("losing push says:\n%s", outs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d pushes won:\n%s\n---\n%s", won, outs[0], outs[1])
	}
	// Both pushes' commits are recorded.
	var commits []store.Commit
	p.apiGet("/api/apps/shop/commits", &commits)
	msgs := map[string]bool{}
	for _, c := range commits {
		msgs[c.Message] = true
	}
	if !msgs["change a"] || !msgs["change b"] {
		t.Errorf("commits recorded: %v", msgs)
	}
	// The winner's code is live and the branch points at it.
	rels := p.releases("shop")
	if rels[0].Status != "live" || rels[0].Version != 2 {
		t.Fatalf("releases: %+v", rels)
	}

	// Two working-tree deploys at once both become releases, one after the other.
	var wg2 sync.WaitGroup
	for _, v := range []string{"c", "d"} {
		dir := t.TempDir()
		rr := &repo{t: t, dir: dir}
		rr.goApp(v)
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			if out, err := p.prosper("deploy", dir, "--app", "shop"); err != nil {
				t.Errorf("deploy %s: %v\n%s", v, err, out)
			}
		}()
	}
	wg2.Wait()
	rels = p.releases("shop")
	if len(rels) != 4 || rels[0].Status != "live" || rels[1].Status != "superseded" {
		t.Fatalf("after two concurrent deploys: %+v", rels)
	}
}
