package githook

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// repo is a bare repository as prosper keeps one, and a working clone that
// makes commits for it.
type repo struct {
	t          *testing.T
	bare, work string
}

// newRepo makes both repositories with git's environment isolated from the
// machine's and changes the working directory to the bare one, where git runs
// the hook.
func newRepo(t *testing.T) *repo {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "Ada Tester")
	t.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "Bob Committer")
	t.Setenv("GIT_COMMITTER_EMAIL", "bob@example.com")
	r := &repo{t: t, bare: filepath.Join(home, "shop.git"), work: filepath.Join(home, "work")}
	r.git(home, "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	r.git(home, "init", "--quiet", "--initial-branch=main", r.work)
	t.Chdir(r.bare)
	return r
}

func (r *repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes a file and commits it at the given author and committer times.
func (r *repo) commit(file, content, msg, authorDate, commitDate string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.work, file), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git(r.work, "add", file)
	r.t.Setenv("GIT_AUTHOR_DATE", authorDate)
	r.t.Setenv("GIT_COMMITTER_DATE", commitDate)
	r.git(r.work, "commit", "--quiet", "-m", msg)
	return r.git(r.work, "rev-parse", "HEAD")
}

// push sends HEAD to a branch of the bare repository.
func (r *repo) push(branch string) {
	r.t.Helper()
	r.git(r.work, "push", "--quiet", r.bare, "HEAD:refs/heads/"+branch)
}

// receive brings the objects of HEAD into the bare repository without any ref
// pointing at them, as git's quarantine holds a push while the hook runs.
func (r *repo) receive() {
	r.t.Helper()
	r.git(r.work, "push", "--quiet", r.bare, "HEAD:refs/incoming/x")
	r.git(r.bare, "update-ref", "-d", "refs/incoming/x")
}

// history is three commits on main, of which the bare repository has the first,
// and the others received but not yet on a branch.
type history struct {
	r          *repo
	c1, c2, c3 string
}

func newHistory(t *testing.T) history {
	r := newRepo(t)
	h := history{r: r}
	h.c1 = r.commit("main.txt", "v1\n", "first version", "2024-05-01T10:00:00+02:00", "2024-05-02T12:00:00+02:00")
	r.push("main")
	h.c2 = r.commit("README", "notes\n", "add readme\n\nWith a body\nof two lines.", "2024-05-03T10:00:00Z", "2024-05-03T10:00:00Z")
	h.c3 = r.commit("main.txt", "v3\n", "third: ünïcode ✓", "2024-05-04T10:00:00Z", "2024-05-04T11:00:00Z")
	r.receive()
	return h
}

func shas(cs []store.Commit) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SHA)
	}
	return out
}

func TestPushedCommits(t *testing.T) {
	h := newHistory(t)
	ctx := context.Background()

	first, err := pushedCommits(ctx, zeroSHA, h.c1, true)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Commit{SHA: h.c1, Author: "Ada Tester <ada@example.com>", Message: "first version",
		AuthorTime: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), CommitTime: time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)}
	if len(first) != 1 || first[0].SHA != want.SHA || first[0].Author != want.Author || first[0].Message != want.Message ||
		!first[0].AuthorTime.Equal(want.AuthorTime) || !first[0].CommitTime.Equal(want.CommitTime) ||
		first[0].AuthorTime.Location() != time.UTC {
		t.Fatalf("first push = %+v, want %+v", first, want)
	}

	if len(first[0].Parents) != 0 {
		t.Errorf("the root commit has parents %v", first[0].Parents)
	}
	third, err := pushedCommits(ctx, h.c2, h.c3, true)
	if err != nil || len(third) != 1 || len(third[0].Parents) != 1 || third[0].Parents[0] != h.c2 {
		t.Fatalf("third commit = %+v, %v; want its parent %s recorded", third, err, h.c2)
	}

	tests := []struct {
		name     string
		old, new string
		deploy   bool
		want     []string
	}{
		{"deploy branch moves on", h.c1, h.c3, true, []string{h.c3, h.c2}},
		{"deploy branch created", zeroSHA, h.c3, true, []string{h.c3, h.c2, h.c1}},
		{"deploy branch, nothing new", h.c3, h.c3, true, nil},
		{"other branch: only what no ref has", zeroSHA, h.c3, false, []string{h.c3, h.c2}},
		{"other branch at a known commit", zeroSHA, h.c1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pushedCommits(ctx, tt.old, tt.new, tt.deploy)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(shas(got), " ") != strings.Join(tt.want, " ") {
				t.Errorf("commits = %v, want %v", shas(got), tt.want)
			}
		})
	}

	all, _ := pushedCommits(ctx, h.c1, h.c3, true)
	if all[0].Message != "third: ünïcode ✓" || all[1].Message != "add readme\n\nWith a body\nof two lines." {
		t.Errorf("messages = %q, %q", all[0].Message, all[1].Message)
	}
	if _, err := pushedCommits(ctx, zeroSHA, strings.Repeat("f", 40), true); err == nil || !strings.Contains(err.Error(), "git log") {
		t.Errorf("unknown commit: %v", err)
	}
}

func TestCheckBranchUnmoved(t *testing.T) {
	h := newHistory(t)
	tests := []struct {
		name, ref, old string
		wantErr        string
	}{
		{"branch where the pusher saw it", "refs/heads/main", h.c1, ""},
		{"new branch that still does not exist", "refs/heads/feature", zeroSHA, ""},
		{"branch moved meanwhile", "refs/heads/main", h.c2, "main moved to " + h.c1[:10] + " while this push waited for another one: run git pull, then push again"},
		{"branch created meanwhile", "refs/heads/main", zeroSHA, "main moved to " + h.c1[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBranchUnmoved(context.Background(), tt.ref, tt.old)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRelay(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		want    string
		wantErr error // nil, ErrRejected, or any other error (errOther)
	}{
		{"success", `{"line":"-----> building shop v2"}` + "\n" + `{"line":""}` + "\n" +
			`{"result":{"release":{"app":"shop","version":2},"url":"http://shop.localhost:8080"}}` + "\n",
			"-----> building shop v2\n\n=====> shop v2 is live: http://shop.localhost:8080\n", nil},
		{"failure with hint", `{"line":"compiling"}` + "\n" + `{"error":{"error":"build failed: exit status 1","hint":"v1 is still live"}}` + "\n",
			"compiling\n!      build failed: exit status 1\n!      v1 is still live\n", ErrRejected},
		{"failure without hint", `{"error":{"error":"shop is busy"}}`, "!      shop is busy\n", ErrRejected},
		{"control plane went away", `{"line":"compiling"}` + "\n",
			"compiling\n!      prosper: the control plane stopped answering before the deploy ended\n", ErrRejected},
		{"garbage", "<html>", "", errOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Relay(strings.NewReader(tt.stream), &out)
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.want)
			}
			switch tt.wantErr {
			case nil, ErrRejected:
				if !errors.Is(err, tt.wantErr) && err != tt.wantErr {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "read the deploy's progress") {
					t.Errorf("err = %v, want an error reading the stream", err)
				}
			}
		})
	}
}

var errOther = errors.New("other")

// controlPlane stands for the control plane's two hook endpoints, recording what
// the hook sends and answering with what the test scripts.
type controlPlane struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	pushes  []map[string]any
	deploys []deployCall

	commitsStatus int    // answer of the commits endpoint
	deployAnswer  string // NDJSON of the deploy endpoint
	deployStatus  int
}

// calls returns what the hook sent so far.
func (cp *controlPlane) calls() ([]map[string]any, []deployCall) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.pushes, cp.deploys
}

type deployCall struct {
	query string
	files map[string]string
}

func newControlPlane(t *testing.T) *controlPlane {
	cp := &controlPlane{t: t, commitsStatus: 200, deployStatus: 200,
		deployAnswer: `{"line":"-----> building"}` + "\n" + `{"result":{"release":{"app":"shop","version":1},"url":"http://shop.localhost"}}` + "\n"}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer hook-token" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "{\n  \"error\": \"not a hook of this server\"\n}\n")
			return false
		}
		return true
	}
	mux.HandleFunc("POST /internal/apps/shop/commits", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("commits body: %v", err)
		}
		cp.mu.Lock()
		cp.pushes = append(cp.pushes, p)
		status := cp.commitsStatus
		cp.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, `{"error": "database is locked", "hint": "try again"}`)
	})
	mux.HandleFunc("POST /internal/apps/shop/deploy", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/gzip" {
			t.Errorf("deploy Content-Type = %q", ct)
		}
		files := map[string]string{}
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("deploy body is not gzip: %v", err)
		} else {
			tr := tar.NewReader(gz)
			for {
				h, err := tr.Next()
				if err != nil {
					if err != io.EOF {
						t.Errorf("deploy body: %v", err)
					}
					break
				}
				b, _ := io.ReadAll(tr)
				if h.Typeflag == tar.TypeReg {
					files[h.Name] = string(b)
				}
			}
		}
		cp.mu.Lock()
		cp.deploys = append(cp.deploys, deployCall{query: r.URL.RawQuery, files: files})
		status, answer := cp.deployStatus, cp.deployAnswer
		cp.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	cp.url = ts.URL
	return cp
}

func TestPreReceive(t *testing.T) {
	h := newHistory(t)
	// A feature branch with a commit of its own, received in the same push.
	h.r.git(h.r.work, "checkout", "--quiet", "-b", "feature", h.c1)
	c4 := h.r.commit("feature.txt", "f\n", "feature work", "2024-05-05T10:00:00Z", "2024-05-05T10:00:00Z")
	h.r.receive()
	cp := newControlPlane(t)
	env := Env{URL: cp.url, Token: "hook-token", App: "shop"}

	stdin := strings.Join([]string{
		zeroSHA + " " + c4 + " refs/heads/feature",
		zeroSHA + " " + h.c3 + " refs/tags/v3",
		h.c2 + " " + zeroSHA + " refs/heads/gone",
		"not a ref line",
		h.c1 + " " + h.c3 + " refs/heads/main",
	}, "\n") + "\n"
	var out bytes.Buffer
	if err := PreReceive(context.Background(), env, strings.NewReader(stdin), &out); err != nil {
		t.Fatalf("PreReceive: %v\n%s", err, out.String())
	}
	wantOut := "-----> prosper: stored branch feature (1 new commits); only main deploys\n" +
		"-----> building\n=====> shop v1 is live: http://shop.localhost\n"
	if out.String() != wantOut {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	pushes, deploys := cp.calls()
	if len(pushes) != 2 {
		t.Fatalf("commits recorded for %d refs, want 2 (tags and deletions are not): %v", len(pushes), pushes)
	}
	feature, main := pushes[0], pushes[1]
	if feature["branch"] != "feature" || feature["old"] != zeroSHA || feature["new"] != c4 || len(feature["commits"].([]any)) != 1 {
		t.Errorf("feature push = %v", feature)
	}
	commits, _ := main["commits"].([]any)
	if main["branch"] != "main" || main["old"] != h.c1 || main["new"] != h.c3 || len(commits) != 2 {
		t.Fatalf("main push = %v", main)
	}
	if c := commits[0].(map[string]any); c["sha"] != h.c3 || c["author"] != "Ada Tester <ada@example.com>" ||
		c["author_time"] != "2024-05-04T10:00:00Z" || c["commit_time"] != "2024-05-04T11:00:00Z" {
		t.Errorf("recorded commit = %v", c)
	}
	if len(deploys) != 1 {
		t.Fatalf("%d deploys, want 1", len(deploys))
	}
	d := deploys[0]
	if d.query != "commit="+h.c3+"&branch=main" {
		t.Errorf("deploy query = %q", d.query)
	}
	if len(d.files) != 2 || d.files["main.txt"] != "v3\n" || d.files["README"] != "notes\n" {
		t.Errorf("deployed tree = %v, want the tree of the pushed commit", d.files)
	}
}

func TestPreReceiveRejects(t *testing.T) {
	h := newHistory(t)
	mainPush := h.c1 + " " + h.c3 + " refs/heads/main\n"
	tests := []struct {
		name    string
		env     func(cp *controlPlane) Env
		stdin   string
		setup   func(cp *controlPlane)
		wantOut []string
		wantErr string // "" for ErrRejected
		deploys int
	}{
		{name: "build fails", stdin: mainPush,
			setup: func(cp *controlPlane) {
				cp.deployAnswer = `{"line":"compiling"}` + "\n" + `{"error":{"error":"build failed","hint":"v1 is still live"}}` + "\n"
			},
			wantOut: []string{"compiling\n", "!      build failed\n", "!      v1 is still live\n"}, deploys: 1},
		{name: "branch moved while the push waited", stdin: h.c2 + " " + h.c3 + " refs/heads/main\n",
			wantOut: []string{"!      main moved to " + h.c1[:10], "run git pull, then push again"}},
		{name: "deploy refused", stdin: mainPush,
			setup: func(cp *controlPlane) {
				cp.deployStatus = http.StatusConflict
				cp.deployAnswer = `{"error":"shop is busy","hint":"wait"}`
			},
			wantOut: []string{"!      prosper: shop is busy; wait\n"}, deploys: 1},
		{name: "commits refused", stdin: mainPush,
			setup:   func(cp *controlPlane) { cp.commitsStatus = http.StatusInternalServerError },
			wantErr: "record commits: 500 Internal Server Error: database is locked; try again"},
		{name: "wrong hook token", stdin: mainPush,
			env:     func(cp *controlPlane) Env { return Env{URL: cp.url, Token: "stale", App: "shop"} },
			wantErr: "record commits: 401 Unauthorized: not a hook of this server"},
		{name: "control plane gone", stdin: mainPush,
			env:     func(*controlPlane) Env { return Env{URL: "http://" + closedAddr(t), Token: "hook-token", App: "shop"} },
			wantErr: "record commits: "},
		{name: "only the deploy branch deploys", stdin: mainPush,
			env: func(cp *controlPlane) Env {
				return Env{URL: cp.url, Token: "hook-token", App: "shop", DeployBranch: "production"}
			},
			wantOut: []string{"stored branch main (2 new commits); only production deploys"}, wantErr: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newControlPlane(t)
			if tt.setup != nil {
				tt.setup(cp)
			}
			env := Env{URL: cp.url, Token: "hook-token", App: "shop"}
			if tt.env != nil {
				env = tt.env(cp)
			}
			var out bytes.Buffer
			err := PreReceive(context.Background(), env, strings.NewReader(tt.stdin), &out)
			switch tt.wantErr {
			case "none":
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			case "":
				if !errors.Is(err, ErrRejected) {
					t.Fatalf("err = %v, want ErrRejected\n%s", err, out.String())
				}
			default:
				if err == nil || errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %q, want one line with %q", err, tt.wantErr)
				}
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if _, deploys := cp.calls(); len(deploys) != tt.deploys {
				t.Errorf("%d deploys, want %d", len(deploys), tt.deploys)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
