package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// copyExample copies examples/NAME into a fresh directory the way a deploy does:
// packed from the working tree and unpacked where the release will live.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	return repack(t, filepath.Join("..", "..", "examples", name))
}

func repack(t *testing.T, src string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := PackDir(src, &buf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "release")
	if err := Unpack(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func buildTree(t *testing.T, b *Builder, dir string) (Result, string) {
	t.Helper()
	cfg, err := appconfig.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := newLineLog()
	res, err := b.Build(context.Background(), Request{App: "test", Dir: dir, Config: cfg, Log: log})
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, log)
	}
	return res, log.String()
}

// release is a built app running as the runtime would run it.
type release struct {
	url    string
	cmd    *exec.Cmd
	out    *lineLog
	exited chan struct{}
}

// start runs res.Command in dir with PORT set and waits until path answers 200.
func start(t *testing.T, dir string, res Result, path string, env ...string) *release {
	t.Helper()
	port := freePort(t)
	// exec: the app itself receives SIGTERM and its exit status is the one seen,
	// not that of a shell around it.
	cmd := exec.Command("/bin/sh", "-c", "exec "+res.Command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	for k, v := range res.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &release{url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, out: newLineLog(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(r.url + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("%s exited before it was healthy: %v\n%s", res.Command, cmd.ProcessState, r.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 30s (last: %v)\n%s", res.Command, err, r.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, as the runtime does, and returns how the process ended.
func (r *release) stop(t *testing.T) *os.ProcessState {
	t.Helper()
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15s after SIGTERM\n%s", r.out)
	}
	return r.cmd.ProcessState
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestBuildGoNotes builds the Go example, runs it, then makes the one-line change
// of the push benchmark and rebuilds it in a new directory, as the next release.
// The first build of this package on a machine compiles SQLite (about a minute);
// the rebuild must hit the warm cache.
func TestBuildGoNotes(t *testing.T) {
	b := &Builder{}
	dir := copyExample(t, "go-notes")
	res, log := buildTree(t, b, dir)
	t.Logf("first build: %s", res.Duration)
	if res.Kind != KindGo || res.Command != ".prosper/bin/app" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(log, "$ go build -buildvcs=false -ldflags=\"-s -w\" -o .prosper/bin/app .\n") {
		t.Errorf("log does not show the build command:\n%s", log)
	}

	app := start(t, dir, res, "/healthz", "DATA_DIR="+t.TempDir())
	if code, body := get(t, app.url+"/"); code != 200 || body != "hello from notes\n" {
		t.Errorf("GET / = %d %q", code, body)
	}
	resp, err := http.Post(app.url+"/api/notes", "application/json", strings.NewReader(`{"text": "ship it"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.Text != "ship it" || created.ID == 0 {
		t.Errorf("POST /api/notes = %d %+v", resp.StatusCode, created)
	}
	if state := app.stop(t); !state.Success() {
		t.Errorf("SIGTERM did not stop notes cleanly: %v\n%s", state, app.out)
	}

	// The push benchmark's change, built where the next release would live.
	mainGo := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), `const greeting = "hello from notes"`, `const greeting = "hello from notes v2"`, 1)
	if changed == string(src) {
		t.Fatal("main.go has no greeting line to change")
	}
	if err := os.WriteFile(mainGo, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	next := repack(t, dir)
	res2, _ := buildTree(t, b, next)
	t.Logf("rebuild after a one-line change: %s", res2.Duration)
	// A cache miss recompiles SQLite, which takes a minute; a hit takes seconds.
	if res2.Duration > 20*time.Second {
		t.Errorf("rebuild took %s: the Go build cache was not used", res2.Duration)
	}
	app2 := start(t, next, res2, "/healthz", "DATA_DIR="+t.TempDir())
	if _, body := get(t, app2.url+"/"); body != "hello from notes v2\n" {
		t.Errorf("GET / after the change = %q", body)
	}
}

func TestBuildPythonHello(t *testing.T) {
	t.Parallel()
	dir := copyExample(t, "python-hello")
	res, _ := buildTree(t, &Builder{}, dir)
	if res.Kind != KindProcfile || res.Command != "python3 app.py" || len(res.Env) != 0 {
		t.Errorf("result = %+v", res)
	}
	app := start(t, dir, res, "/healthz")
	code, body := get(t, app.url+"/")
	var msg struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil || code != 200 || msg.Message != "hello from python" {
		t.Errorf("GET / = %d %q", code, body)
	}
	if state := app.stop(t); !state.Success() {
		t.Errorf("SIGTERM did not stop the app cleanly: %v\n%s", state, app.out)
	}
}

// TestBuildPythonRequirements runs pip for real. The requirements list nothing so
// that no package index is needed; what is checked is the command and that the
// relative PYTHONPATH reaches the app as the target directory.
func TestBuildPythonRequirements(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"requirements.txt": "# nothing yet\n",
		"Procfile":         "web: python3 app.py\n",
		"app.py":           "import os, sys\nos.chdir('/')\nprint('\\n'.join(sys.path))\n",
	})
	res, log := buildTree(t, &Builder{}, dir)
	if res.Kind != KindPython || res.Env["PYTHONPATH"] != ".prosper/python" {
		t.Fatalf("result = %+v\n%s", res, log)
	}
	cmd := exec.Command("/bin/sh", "-c", res.Command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH="+res.Env["PYTHONPATH"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), filepath.Join(dir, ".prosper/python")+"\n") {
		t.Errorf("sys.path lacks the absolute target dir:\n%s", out)
	}
}

func TestBuildNode(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"package.json": `{"name": "hello", "version": "1.0.0", "scripts": {"build": "node build.js", "start": "node server.js"}}`,
		"build.js":     `require("fs").writeFileSync("built.txt", "ok\n")`,
		"server.js": `require("http").createServer((req, res) => res.end("hello from node\n"))` +
			`.listen(Number(process.env.PORT), "127.0.0.1")`,
	})
	res, _ := buildTree(t, &Builder{}, dir)
	if res.Kind != KindNode || res.Command != "npm start" {
		t.Errorf("result = %+v", res)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "built.txt")); err != nil || string(b) != "ok\n" {
		t.Errorf("npm run build did not run: %q, %v", b, err)
	}
	app := start(t, dir, res, "/")
	if _, body := get(t, app.url+"/"); body != "hello from node\n" {
		t.Errorf("GET / = %q", body)
	}
}

// The node-hello example builds and runs on this machine too: npm ci (a
// lockfile and no dependencies, so no registry), npm run build, the Procfile.
func TestBuildNodeHello(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	dir := copyExample(t, "node-hello")
	res, log := buildTree(t, &Builder{}, dir)
	if res.Kind != KindNode || res.Command != "node server.js" || !strings.Contains(log, "$ npm ci") || !strings.Contains(log, "built dist/hello.json") {
		t.Errorf("result = %+v\n%s", res, log)
	}
	app := start(t, dir, res, "/healthz")
	code, body := get(t, app.url+"/")
	var msg struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil || code != 200 || msg.Message != "hello from node" {
		t.Errorf("GET / = %d %q", code, body)
	}
	if state := app.stop(t); !state.Success() {
		t.Errorf("SIGTERM did not stop the app cleanly: %v\n%s", state, app.out)
	}
}

func TestBuildFailureHasTail(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"go.mod":  "module broken\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() { undefinedThing() }\n",
	})
	log := newLineLog()
	_, err := (&Builder{}).Build(context.Background(), Request{App: "broken", Dir: dir, Log: log})
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *build.Error", err)
	}
	if be.ExitCode != 1 || !strings.HasPrefix(be.Command, "go build ") {
		t.Errorf("error = %+v", be)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `build failed: go build -buildvcs=false -ldflags="-s -w" -o .prosper/bin/app . exited with code 1`+"\n") ||
		!strings.Contains(msg, "main.go:3:15: undefined: undefinedThing") {
		t.Errorf("message:\n%s", msg)
	}
	if !strings.Contains(log.String(), "undefined: undefinedThing") {
		t.Errorf("the compiler's output did not reach the log:\n%s", log)
	}
}

func TestBuildEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Procfile": "web: ./server\n"})
	cache := t.TempDir()
	b := &Builder{Env: []string{"PATH=" + os.Getenv("PATH"), "ONLY_THIS=1"}, GoCache: cache}
	cfg := appconfig.Config{Build: `printf '%s|%s|%s\n' "$GOCACHE" "$ONLY_THIS" "$HOME" > env.txt`}
	res, err := b.Build(context.Background(), Request{App: "env", Dir: dir, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != KindCustom || res.Command != "./server" {
		t.Errorf("result = %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := cache + "|1|\n"; string(got) != want {
		t.Errorf("build saw %q, want %q", got, want)
	}
}

func TestBuildMissingDir(t *testing.T) {
	_, err := (&Builder{}).Build(context.Background(), Request{App: "x", Dir: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "source tree") {
		t.Errorf("err = %v", err)
	}
}
