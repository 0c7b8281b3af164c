package server

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitEndpointErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	host := strings.TrimPrefix(ts.URL(), "http://")
	tests := []struct {
		name   string
		path   string
		user   string // basic auth user:password, or "" for none
		status int
		want   []string
	}{
		{"dumb http client", "/git/shop.git/info/refs", "prosper:" + ts.token, 403, []string{"smart HTTP"}},
		{"unknown service", "/git/shop.git/info/refs?service=git-upload-archive", "prosper:" + ts.token, 403, []string{"smart HTTP"}},
		{"no token", "/git/shop.git/info/refs?service=git-upload-pack", "", 401,
			[]string{"pushing needs a token", "http://prosper:TOKEN@" + host + "/git/shop.git", "DATA_DIR/admin-token"}},
		{"wrong token", "/git/shop.git/info/refs?service=git-receive-pack", "prosper:prsp_wrong", 401,
			[]string{"the token is not valid", "/git/shop.git"}},
		{"unknown app", "/git/nope.git/info/refs?service=git-receive-pack", "prosper:" + ts.token, 404,
			[]string{`no app "nope"`, "prosper app create nope"}},
		{"unknown app without .git", "/git/nope/info/refs?service=git-upload-pack", "prosper:" + ts.token, 404,
			[]string{"prosper app create nope"}},
		{"rpc without token", "/git/shop.git/git-receive-pack", "", 401, []string{"needs a token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if strings.Contains(tt.path, "/git-receive-pack") {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, ts.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if u, p, ok := strings.Cut(tt.user, ":"); ok {
				req.SetBasicAuth(u, p)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readReply(t, resp)
			if r.status != tt.status {
				t.Fatalf("= %d %s, want %d", r.status, r.body, tt.status)
			}
			// git shows a text/plain body to the user; JSON would be noise.
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="prosper"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			for _, w := range tt.want {
				if !strings.Contains(string(r.body), w) {
					t.Errorf("body lacks %q:\n%s", w, r.body)
				}
			}
		})
	}
}

func TestGitRepositoryOfAnApp(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	repo := ts.repoDir("shop")
	for _, kv := range [][2]string{{"http.receivepack", "true"}, {"receive.denyDeletes", "true"}} {
		out, err := exec.Command("git", "--git-dir", repo, "config", kv[0]).Output()
		if err != nil || strings.TrimSpace(string(out)) != kv[1] {
			t.Errorf("git config %s = %q %v", kv[0], out, err)
		}
	}
	fi, err := os.Stat(filepath.Join(repo, "hooks", "pre-receive"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("pre-receive hook: %v %v", fi, err)
	}
	// Cloning the new, empty repository works over the endpoint.
	remote := strings.Replace(ts.URL(), "http://", "http://prosper:"+ts.token+"@", 1) + "/git/shop.git"
	dst := filepath.Join(t.TempDir(), "c")
	cmd := exec.Command("git", "clone", "--quiet", remote, dst)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}

	// A hook that was lost or edited is put back on the next start.
	if err := os.WriteFile(filepath.Join(repo, "hooks", "pre-receive"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ts.installHooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "hooks", "pre-receive")); string(b) != hookScript {
		t.Errorf("hook after reinstall:\n%s", b)
	}
}
