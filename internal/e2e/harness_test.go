package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/testbin"
)

// prosperBin is the binary under test, built once for the package.
var prosperBin string

// baseEnv is the environment of every process the tests start: the Go build cache
// of the machine (so builds are warm), and a git identity.
var baseEnv []string

func TestMain(m *testing.M) {
	bin, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	prosperBin = bin
	gocache, _ := exec.Command("go", "env", "GOCACHE").Output()
	gomodcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	baseEnv = append(os.Environ(),
		"GOCACHE="+strings.TrimSpace(string(gocache)),
		"GOMODCACHE="+strings.TrimSpace(string(gomodcache)),
		"GIT_AUTHOR_NAME=Ada Tester", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Tester", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
	)
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// platform is one `prosper up` process with its own data dir and ports.
type platform struct {
	t       *testing.T
	dataDir string
	home    string
	args    []string
	cmd     *exec.Cmd
	out     *lockedBuffer
	waited  chan error
	API     string
	Router  string
	Token   string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPlatform runs `prosper up` on free ports and waits until it is ready.
func startPlatform(t *testing.T, extra ...string) *platform {
	t.Helper()
	p := &platform{t: t, dataDir: t.TempDir(), home: t.TempDir()}
	p.args = append([]string{"up", "--data-dir", p.dataDir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, extra...)
	p.start()
	t.Cleanup(p.cleanup)
	return p
}

var (
	apiLine    = regexp.MustCompile(`API and UI:\s+(http://\S+)`)
	routerLine = regexp.MustCompile(`router:\s+(http://\S+)`)
)

func (p *platform) start() {
	p.t.Helper()
	p.out = &lockedBuffer{}
	p.cmd = exec.Command(prosperBin, p.args...)
	p.cmd.Env = p.env()
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.waited = make(chan error, 1)
	go func() { p.waited <- p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := p.out.String()
		a, r := apiLine.FindStringSubmatch(out), routerLine.FindStringSubmatch(out)
		if a != nil && r != nil {
			p.API, p.Router = a[1], r[1]
			break
		}
		select {
		case err := <-p.waited:
			p.t.Fatalf("prosper up exited (%v):\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("prosper up did not get ready in time:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(p.dataDir, "admin-token"))
	if err != nil {
		p.t.Fatal(err)
	}
	p.Token = strings.TrimSpace(string(tok))
}

func (p *platform) env() []string {
	return append(append([]string{}, baseEnv...), "HOME="+p.home, "XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"))
}

// stop sends Ctrl-C and waits for a clean exit.
func (p *platform) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.waited:
		if err != nil {
			p.t.Fatalf("prosper up did not exit cleanly on Ctrl-C: %v\n%s", err, p.out.String())
		}
	case <-time.After(40 * time.Second):
		p.t.Fatalf("prosper up did not stop on Ctrl-C:\n%s", p.out.String())
	}
	p.cmd = nil
}

// kill9 kills the control plane the hard way; the node is left running.
func (p *platform) kill9() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.waited
	p.cmd = nil
}

func (p *platform) cleanup() {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.waited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
	// The node outlives a killed control plane; stop it with its apps.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = node.NewClient(p.dataDir).Shutdown(ctx)
	if p.t.Failed() {
		p.t.Logf("prosper up output:\n%s", p.out.String())
		if b, err := os.ReadFile(filepath.Join(p.dataDir, "node.log")); err == nil {
			p.t.Logf("node.log:\n%s", b)
		}
	}
}

// prosper runs the CLI against this platform.
func (p *platform) prosper(args ...string) (string, error) {
	p.t.Helper()
	cmd := exec.Command(prosperBin, args...)
	cmd.Env = append(p.env(), "PROSPER_URL="+p.API, "PROSPER_TOKEN="+p.Token)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustProsper runs the CLI and fails the test if it fails.
func (p *platform) mustProsper(args ...string) string {
	p.t.Helper()
	out, err := p.prosper(args...)
	if err != nil {
		p.t.Fatalf("prosper %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// createApp creates an app and returns its git remote with the token in it.
func (p *platform) createApp(name string) string {
	p.t.Helper()
	p.mustProsper("app", "create", name)
	return p.remote(name)
}

// remote is the app's git remote with the token in it; it changes when a
// restarted platform listens on another port.
func (p *platform) remote(name string) string {
	return strings.Replace(p.API, "http://", "http://prosper:"+p.Token+"@", 1) + "/git/" + name + ".git"
}

// get asks the router for path on the app's host and returns status, body and
// the release that answered.
func (p *platform) get(app, path string) (int, string, string, error) {
	req, err := http.NewRequest(http.MethodGet, p.Router+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Host = app + ".localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Prosper-Release"), err
}

// waitBody polls the app until its body contains want.
func (p *platform) waitBody(app, path, want string, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		code, body, _, err := p.get(app, path)
		last = fmt.Sprintf("%d %q %v", code, body, err)
		if err == nil && code == 200 && strings.Contains(body, want) {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s%s never answered %q; last: %s", app, path, want, last)
	return ""
}

func (p *platform) releases(app string) []store.Release {
	p.t.Helper()
	var rels []store.Release
	if err := json.Unmarshal([]byte(p.mustProsper("releases", app, "-o", "json")), &rels); err != nil {
		p.t.Fatal(err)
	}
	return rels
}

func (p *platform) apiGet(path string, out any) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.API+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		p.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		p.t.Fatal(err)
	}
}

// repo is a git working tree of a test app.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "--quiet", "--initial-branch=main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	out, err := r.tryGit(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *repo) tryGit(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = baseEnv
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *repo) write(name, content string) {
	r.t.Helper()
	path := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) commit(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "--quiet", "-m", msg)
	return strings.TrimSpace(r.git("rev-parse", "HEAD"))
}

// push pushes the branch and returns git's output and error.
func (r *repo) push(remote, refspec string, flags ...string) (string, error) {
	return r.tryGit(append(append([]string{"push"}, flags...), remote, refspec)...)
}

// goApp writes a small Go web app that answers "<version> <GREETING>" on /.
// If $DATA_DIR/crash exists it fails at start, as an app whose database is gone.
// Its releases differ in what they answer on purpose, so its mirror phase is
// short and allows every difference: these tests are about pushing and
// switching; verify_test.go is about verdicts.
func (r *repo) goApp(version string) {
	r.t.Helper()
	r.write("go.mod", "module example.com/testapp\n\ngo 1.22\n")
	r.write("prosper.yaml", "health: /healthz\nhealth_timeout: 20s\n"+quickVerify)
	r.write("main.go", strings.ReplaceAll(goAppSource, "VERSION", version))
}

// quickVerify is the verify section of apps whose tests are not about verdicts.
const quickVerify = "verify: {window: 300ms, min_requests: 1, grace: 2s, gates: {diff_rate: 100%, p50: +1s, p95: +1s, p99: +1s}}\n"

const goAppSource = `package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

const version = "VERSION"

func main() {
	if _, err := os.Stat(filepath.Join(os.Getenv("DATA_DIR"), "crash")); err == nil {
		fmt.Fprintln(os.Stderr, "boom: cannot open the database")
		os.Exit(3)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "crashing on request")
		os.Exit(3)
	})
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintln(w, version)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s\n", version, os.Getenv("GREETING"))
	})
	fmt.Println("listening on", os.Getenv("PORT"))
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// load sends requests to the app in a bounded loop from a few goroutines until
// stop is closed, counting failures (transport errors and non-200 answers).
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	ok       int
	failures []string
	releases map[string]int
}

func startLoad(p *platform, app, path string, workers int) *load {
	l := &load{stop: make(chan struct{}), releases: map[string]int{}}
	client := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			// Bounded: at most 200k requests per worker even if stop never comes.
			for i := 0; i < 200000; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, p.Router+path, nil)
				req.Host = app + ".localhost"
				resp, err := client.Do(req)
				l.mu.Lock()
				switch {
				case err != nil:
					l.failures = append(l.failures, err.Error())
				case resp.StatusCode != 200:
					b, _ := io.ReadAll(resp.Body)
					l.failures = append(l.failures, fmt.Sprintf("%d %s", resp.StatusCode, b))
				default:
					l.ok++
					l.releases[resp.Header.Get("Prosper-Release")]++
				}
				l.mu.Unlock()
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) finish() (ok int, failures []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok, l.failures
}

// mustPush pushes main and fails the test if git refuses.
func (r *repo) mustPush(remote string) string {
	r.t.Helper()
	out, err := r.push(remote, "main")
	if err != nil {
		r.t.Fatalf("push: %v\n%s", err, out)
	}
	return out
}

// pushGoApp makes a repository with the test app at version and pushes it live.
func pushGoApp(t *testing.T, remote, version string) *repo {
	t.Helper()
	r := newRepo(t)
	r.goApp(version)
	r.commit(version)
	r.mustPush(remote)
	return r
}
