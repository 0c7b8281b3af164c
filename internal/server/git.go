package server

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/prosperhq/prosper/internal/store"
)

// prosper speaks git's smart HTTP protocol itself, running `git upload-pack` and
// `git receive-pack` in stateless-rpc mode, rather than through git http-backend as
// a CGI: that way the pack and the hook's progress stream to the pusher as they
// come instead of waiting in a response buffer.

func (s *Server) repoDir(app string) string {
	return filepath.Join(s.cfg.DataDir, "git", app+".git")
}

// hookScript runs prosper itself as git's pre-receive hook. The binary's path and
// how to reach the control plane come in the environment of each push, so a moved
// binary or a new port needs no rewrite of the hook.
const hookScript = `#!/bin/sh
# Installed by prosper: builds and releases pushes to the deploy branch.
exec "$PROSPER_EXE" hook pre-receive
`

func (s *Server) initRepo(ctx context.Context, app string) error {
	dir := s.repoDir(app)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		if out, err := exec.CommandContext(ctx, "git", "init", "--quiet", "--bare", "--initial-branch=main", dir).CombinedOutput(); err != nil {
			return fmt.Errorf("git init: %v: %s", err, out)
		}
	}
	for _, kv := range [][2]string{{"http.receivepack", "true"}, {"receive.denyDeletes", "true"}, {"gc.auto", "0"}} {
		if out, err := exec.CommandContext(ctx, "git", "--git-dir", dir, "config", kv[0], kv[1]).CombinedOutput(); err != nil {
			return fmt.Errorf("git config %s: %v: %s", kv[0], err, out)
		}
	}
	return os.WriteFile(filepath.Join(dir, "hooks", "pre-receive"), []byte(hookScript), 0o755)
}

// installHooks makes sure every app's repository exists with the current hook.
func (s *Server) installHooks(ctx context.Context) error {
	apps, err := s.store.ListApps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if err := s.initRepo(ctx, a.Name); err != nil {
			return fmt.Errorf("repository of %s: %w", a.Name, err)
		}
	}
	return nil
}

// gitApp checks the request's token and finds the app of /git/NAME.git. On
// failure it has answered in text/plain, which git shows the user as "remote:"
// lines, and returns false.
func (s *Server) gitApp(w http.ResponseWriter, r *http.Request) (store.App, bool) {
	repo := r.PathValue("repo")
	name, ok := strings.CutSuffix(repo, ".git")
	if !ok {
		name = repo
	}
	tok := bearer(r)
	authorized := false
	if tok != "" {
		_, authorized, _ = s.store.Authenticate(r.Context(), tok)
	}
	if !authorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="prosper"`)
		msg := "prosper: the token is not valid."
		if tok == "" {
			msg = "prosper: pushing needs a token."
		}
		gitText(w, http.StatusUnauthorized, msg+" Use it as the password, e.g.\n"+
			"  git remote set-url prosper http://prosper:TOKEN@"+r.Host+"/git/"+name+".git\n"+
			"The admin token is in DATA_DIR/admin-token (prosper up prints where).")
		return store.App{}, false
	}
	a, err := s.store.GetApp(r.Context(), name)
	if err != nil {
		gitText(w, http.StatusNotFound, fmt.Sprintf("prosper: there is no app %q. Create it with: prosper app create %s", name, name))
		return store.App{}, false
	}
	return a, true
}

func gitText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

func (s *Server) handleGitInfoRefs(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if service != "git-upload-pack" && service != "git-receive-pack" {
		gitText(w, http.StatusForbidden, "prosper: only smart HTTP git clients are supported (git 1.6.6 or newer)")
		return
	}
	a, ok := s.gitApp(w, r)
	if !ok {
		return
	}
	cmd := exec.CommandContext(r.Context(), "git", strings.TrimPrefix(service, "git-"), "--stateless-rpc", "--advertise-refs", s.repoDir(a.Name))
	out, err := cmd.Output()
	if err != nil {
		gitText(w, http.StatusInternalServerError, "prosper: "+service+" failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, pktLine("# service="+service+"\n")+"0000")
	w.Write(out)
}

func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// handleGitRPC runs one upload-pack (clone, fetch) or receive-pack (push) exchange.
// Pushes to one app are serialized whole, from reading the commands to updating the
// refs, so the pre-receive hook can trust that the branch is where the pusher saw it.
func (s *Server) handleGitRPC(service string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.gitApp(w, r)
		if !ok {
			return
		}
		if service == "receive-pack" {
			mu := s.pushLock(a.Name)
			mu.Lock()
			defer mu.Unlock()
		}
		// receive-pack reports progress while it still reads the pack.
		_ = http.NewResponseController(w).EnableFullDuplex()
		defer closeBody(r)
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				gitText(w, http.StatusBadRequest, "prosper: bad gzip body: "+err.Error())
				return
			}
			defer gz.Close()
			body = gz
		}
		cmd := exec.Command("git", service, "--stateless-rpc", s.repoDir(a.Name))
		cmd.Stdin = body
		cmd.Env = append(os.Environ(),
			"PROSPER_EXE="+s.cfg.Exe,
			"PROSPER_HOOK_URL="+s.URL(),
			"PROSPER_HOOK_TOKEN="+s.hookToken,
			"PROSPER_APP="+a.Name,
			"PROSPER_DEPLOY_BRANCH="+a.DeployBranch,
		)
		w.Header().Set("Content-Type", "application/x-git-"+service+"-result")
		w.Header().Set("Cache-Control", "no-cache")
		cmd.Stdout = &flushWriter{w: w}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			s.log.Warn("git "+service, "app", a.Name, "err", err, "stderr", stderr.String())
		}
	}
}

func (s *Server) pushLock(app string) *sync.Mutex {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	mu, ok := s.pushLocks[app]
	if !ok {
		mu = &sync.Mutex{}
		s.pushLocks[app] = mu
	}
	return mu
}

// flushWriter sends every write to the client at once.
type flushWriter struct {
	w http.ResponseWriter
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
