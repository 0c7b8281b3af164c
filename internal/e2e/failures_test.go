package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPushWithoutOrWithWrongToken(t *testing.T) {
	p := startPlatform(t)
	p.createApp("shop")
	r := newRepo(t)
	r.goApp("v1")
	r.commit("v1")

	// No token: git gets a 401 with a Basic challenge.
	resp, err := http.Get(p.API + "/git/shop.git/info/refs?service=git-receive-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no token: %s %v", resp.Status, resp.Header)
	}
	out, err := r.push(p.API+"/git/shop.git", "main")
	if err == nil {
		t.Fatalf("push without a token succeeded:\n%s", out)
	}

	// A wrong token: git shows prosper's hint.
	bad := strings.Replace(p.API, "http://", "http://prosper:prsp_wrong@", 1) + "/git/shop.git"
	out, err = r.push(bad, "main")
	if err == nil {
		t.Fatalf("push with a wrong token succeeded:\n%s", out)
	}
	if !strings.Contains(out, "the token is not valid") || !strings.Contains(out, "admin-token") {
		t.Errorf("wrong-token push does not explain:\n%s", out)
	}
	// The API refuses too, with a hint.
	cmd := exec.Command(prosperBin, "app", "list")
	cmd.Env = append(p.env(), "PROSPER_URL="+p.API, "PROSPER_TOKEN=prsp_wrong")
	cout, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(cout), "token is not valid") || strings.Count(strings.TrimSpace(string(cout)), "\n") != 0 {
		t.Errorf("CLI with a wrong token: %v\n%s", err, cout)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit code: %v", err)
	}
}

func TestUnknownApp(t *testing.T) {
	p := startPlatform(t)
	r := newRepo(t)
	r.goApp("v1")
	r.commit("v1")
	remote := strings.Replace(p.API, "http://", "http://prosper:"+p.Token+"@", 1) + "/git/nope.git"
	out, err := r.push(remote, "main")
	if err == nil || !strings.Contains(out, "prosper app create nope") {
		t.Fatalf("push to an unknown app: %v\n%s", err, out)
	}
	cout, err := p.prosper("releases", "nope")
	if err == nil || !strings.Contains(cout, `unknown app "nope"`) {
		t.Fatalf("releases of an unknown app: %v\n%s", err, cout)
	}
	code, body, _, _ := p.get("nope", "/")
	if code != 404 || !strings.Contains(body, "no app serves") {
		t.Fatalf("router for an unknown host: %d %q", code, body)
	}
	if out, err := p.prosper("app", "create", "Bad_Name"); err == nil || !strings.Contains(out, "lowercase") {
		t.Fatalf("bad app name: %v\n%s", err, out)
	}
}

func TestFailedBuildKeepsLiveRelease(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := pushGoApp(t, remote, "v1")
	r.write("main.go", "package main\n\nfunc main() { undefinedThing() }\n")
	r.commit("broken")
	out, err := r.push(remote, "main")
	if err == nil {
		t.Fatalf("a push that does not build was accepted:\n%s", out)
	}
	for _, want := range []string{"undefined: undefinedThing", "build failed", "v1 is still live", "pre-receive hook declined"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if _, body, _, _ := p.get("shop", "/"); body != "v1 \n" {
		t.Fatalf("live app answers %q", body)
	}
	rels := p.releases("shop")
	if rels[0].Status != "failed" || len(rels[0].Reasons) == 0 || !strings.Contains(rels[0].Reasons[0], "build failed") {
		t.Fatalf("failed release: %+v", rels[0])
	}
	// The build log is kept.
	req, _ := http.NewRequest("GET", p.API+"/api/apps/shop/releases/2/log", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "undefinedThing") {
		t.Errorf("build log: %s", b)
	}
	// The branch was not moved to the broken commit.
	head := newRepo(t)
	head.git("clone", "--quiet", remote, "c")
	if log := head.git("-C", "c", "log", "--format=%s", "-1"); strings.TrimSpace(log) != "v1" {
		t.Errorf("main on the server is at %q", log)
	}
}

func TestMalformedProsperYAML(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := newRepo(t)
	r.goApp("v1")
	r.write("prosper.yaml", "health: /healthz\nbuidl: go build .\n")
	r.commit("typo")
	out, err := r.push(remote, "main")
	if err == nil {
		t.Fatalf("push with a malformed prosper.yaml was accepted:\n%s", out)
	}
	if !strings.Contains(out, "prosper.yaml:2") || !strings.Contains(out, "buidl") {
		t.Errorf("push output does not point at prosper.yaml:2:\n%s", out)
	}
}

func TestNeverHealthyFailsAfterTimeout(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := pushGoApp(t, remote, "v1")
	// v2 listens but its health check never passes.
	r.write("prosper.yaml", "health: /never\nhealth_timeout: 2s\n")
	r.commit("bad health path")
	l := startLoad(p, "shop", "/", 2)
	out, err := r.push(remote, "main")
	ok, failures := l.finish()
	if err == nil {
		t.Fatalf("a release that never became healthy was accepted:\n%s", out)
	}
	if !strings.Contains(out, "did not become healthy within 2s") {
		t.Errorf("push output:\n%s", out)
	}
	if len(failures) > 0 || ok == 0 {
		t.Errorf("the live release did not keep serving: %d ok, failures %v", ok, failures[:min(5, len(failures))])
	}
	if _, body, _, _ := p.get("shop", "/"); body != "v1 \n" {
		t.Fatalf("live app answers %q", body)
	}
}

func TestStatusExplainsCrashLoop(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := pushGoApp(t, remote, "v1")
	// The database "disappears": every restart fails at once.
	if err := os.WriteFile(filepath.Join(p.dataDir, "appdata", "shop", "crash"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p.get("shop", "/crash")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := p.mustProsper("status", "shop")
		if strings.Contains(out, "crash-looping") && strings.Contains(out, "exit code 3") &&
			strings.Contains(out, "boom: cannot open the database") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status does not explain the crash loop:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(p.mustProsper("status", "shop", "-o", "json")), &st); err != nil || st["problem"] == "" {
		t.Fatalf("status -o json: %v %v", st, err)
	}
	// A new release that crashes at start fails fast, with the reason.
	r.goApp("v2")
	r.commit("v2")
	out, err := r.push(remote, "main")
	if err == nil || !strings.Contains(out, "exit code 3") {
		t.Fatalf("crashing release: %v\n%s", err, out)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, flag := range []string{"--listen", "--http"} {
		args := []string{"up", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", flag, ln.Addr().String()}
		cmd := exec.Command(prosperBin, args...)
		cmd.Env = baseEnv
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%s on a busy port started", flag)
		}
		if !strings.Contains(string(out), "in use") || !strings.Contains(string(out), flag) {
			t.Errorf("%s busy: %s", flag, out)
		}
	}
}
