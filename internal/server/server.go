// Package server is prosper's control plane: the HTTP API the CLI talks to, the
// git endpoint pushes arrive at, and the home of the web UI. It decides; the node
// process it spawns (router and app processes) serves, and keeps serving when the
// control plane stops or dies.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/kubebuild"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/series"
	"github.com/prosperhq/prosper/internal/store"
)

// Config is how the control plane is set up. Zero values take the defaults of
// `prosper up`.
type Config struct {
	DataDir string // state, repositories, releases, logs
	// Store is where the state lives: empty means DATA_DIR/prosper.db
	// (SQLite); a postgres:// URL puts it in PostgreSQL, so that several
	// control planes can share it.
	Store    string
	Listen   string // API, UI and git endpoint; default 127.0.0.1:7070
	HTTPAddr string // the router; default 127.0.0.1:8080
	// Exe is the prosper binary, run as the node process and as git's hook.
	// Default: the running executable.
	Exe string
	// Warm is how long a replaced release keeps running for instant rollback:
	// zero means 10 minutes, a negative value stops it as soon as it is drained.
	Warm time.Duration
	// HealthTimeout bounds how long a new release may take to become healthy,
	// unless its prosper.yaml says otherwise.
	HealthTimeout time.Duration
	// KeepReleases is how many of each app's newest releases keep their files
	// for rollback; default 10.
	KeepReleases int
	// SweepEvery is how often stale releases are stopped; default 2s.
	SweepEvery time.Duration
	Version    string
	Logger     *slog.Logger

	// SeriesEvery is the step of the metrics history; default 10s.
	SeriesEvery time.Duration

	// LogMaxAge is how long the node keeps the apps' log files after their
	// last line: zero means node.DefaultLogMaxAge, a negative value no limit.
	LogMaxAge time.Duration

	// Domain is the suffix of every app's default host, NAME.Domain; empty
	// means "localhost".
	Domain string

	// Kube runs the apps on a Kubernetes cluster (prosper up --kubernetes);
	// nil runs them as processes of this machine.
	Kube *node.KubeConfig

	// NATS, when set (prosper up --nats), is where the node runs a NATS
	// server for router replicas; empty runs none.
	NATS string
}

// Server is a running control plane.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	node     *node.Client
	rollout  *rollout.Manager
	http     *http.Server
	listener net.Listener

	routerURL  string
	adminToken string
	hookToken  string
	startedAt  time.Time

	pushMu    sync.Mutex
	pushLocks map[string]*sync.Mutex

	readings *readings // the DORA ledger, kept up to date with the store

	series *series.Store // the metrics history, DATA_DIR/series.db

	lock *os.File // flock of DATA_DIR/control.lock, held while running
	// background runs the sweep and the node watch; Stop waits for it.
	background sync.WaitGroup
	cancel     context.CancelFunc
	done       chan struct{}
}

// New validates cfg and returns a Server that is not started yet.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("data dir is not set: pass --data-dir DIR")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = abs
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7070"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:8080"
	}
	for _, a := range []struct{ flag, addr string }{{"--listen", cfg.Listen}, {"--http", cfg.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return nil, fmt.Errorf("%s %q is not an address: use HOST:PORT, e.g. 127.0.0.1:7070", a.flag, a.addr)
		}
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the prosper binary: %w", err)
		}
		cfg.Exe = exe
	}
	switch {
	case cfg.Warm == 0:
		cfg.Warm = 10 * time.Minute
	case cfg.Warm < 0:
		cfg.Warm = 0
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = 2 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, log: cfg.Logger, pushLocks: map[string]*sync.Mutex{}, readings: newReadings()}, nil
}

// Start opens the state, adopts or spawns the node, brings every live release
// back, and serves the API. It returns once the API answers.
func (s *Server) Start(ctx context.Context) (err error) {
	s.startedAt = time.Now().UTC()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Bind the API first: a port in use is the most common start failure and
	// nothing should have been changed when it happens.
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		if isAddrInUse(err) {
			return fmt.Errorf("API address %s is in use: is prosper already running? Stop it, or pass --listen ADDR", s.cfg.Listen)
		}
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.listener = ln
	lock, err := lockDataDir(s.cfg.DataDir)
	if err != nil {
		ln.Close()
		return err
	}
	s.lock = lock
	defer func() {
		if err != nil {
			ln.Close()
			lock.Close()
			if s.store != nil {
				s.store.Close()
			}
		}
	}()

	location := s.cfg.Store
	if location == "" {
		location = filepath.Join(s.cfg.DataDir, "prosper.db")
	}
	s.store, err = store.OpenURL(ctx, location)
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	if s.adminToken, err = s.ensureAdminToken(ctx); err != nil {
		return err
	}
	if s.hookToken, _, err = store.NewToken(); err != nil {
		return err
	}
	if err := s.startNode(ctx); err != nil {
		return err
	}
	s.rollout = rollout.New(s.store, s.node, s.node, s.builder(), rollout.Options{
		DataDir: s.cfg.DataDir, Warm: s.cfg.Warm, HealthTimeout: s.cfg.HealthTimeout,
		RouterURL: s.routerURL, KeepReleases: s.cfg.KeepReleases, Domain: s.cfg.Domain,
	}, s.log)
	if err := s.installHooks(ctx); err != nil {
		return err
	}
	if err := s.rollout.Recover(ctx); err != nil {
		return fmt.Errorf("resume apps: %w", err)
	}
	if err := s.openSeries(ctx); err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	s.http = &http.Server{Handler: s.routes(runCtx), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		s.background.Add(2)
		go func() { defer s.background.Done(); s.rollout.Run(runCtx, s.cfg.SweepEvery) }()
		go func() { defer s.background.Done(); s.watchNode(runCtx, time.Second) }()
		s.background.Add(1)
		go func() { defer s.background.Done(); s.runSeries(runCtx) }()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server", "err", err)
		}
	}()
	s.log.Info("control plane ready", "api", s.URL(), "router", s.routerURL)
	return nil
}

// startNode adopts the node of an earlier run when it still serves, or spawns one.
func (s *Server) startNode(ctx context.Context) error {
	c := node.NewClient(s.cfg.DataDir)
	info, err := c.Info(ctx)
	if err == nil {
		want := node.RuntimeProcesses
		if s.cfg.Kube != nil {
			want = node.RuntimeKubernetes
		}
		if info.Runtime != "" && info.Runtime != want {
			return fmt.Errorf("the node of an earlier run (pid %d) runs the apps as %s, and this prosper up asks for %s: "+
				"stop it first (kill %d), or run prosper up as before", info.PID, info.Runtime, want, info.PID)
		}
		if sameAddr(info.HTTPAddr, s.cfg.HTTPAddr) && sameNATS(info.NATSAddr, s.cfg.NATS) {
			s.log.Info("adopted running node", "pid", info.PID, "router", info.HTTPAddr)
			s.node, s.routerURL = c, "http://"+info.HTTPAddr
			return nil
		}
		s.log.Info("node serves another router or NATS address; restarting it", "have", info.HTTPAddr, "want", s.cfg.HTTPAddr,
			"have_nats", info.NATSAddr, "want_nats", s.cfg.NATS)
		if err := c.Shutdown(ctx); err != nil {
			return fmt.Errorf("stop the node of an earlier run: %w", err)
		}
	}
	c, info, err = s.spawnNode(ctx, s.cfg.HTTPAddr)
	if err != nil {
		return err
	}
	s.node, s.routerURL = c, "http://"+info.HTTPAddr
	return nil
}

// spawnNode starts a node process serving the router on addr.
func (s *Server) spawnNode(ctx context.Context, addr string) (*node.Client, node.Info, error) {
	c, info, err := node.Spawn(ctx, node.SpawnOptions{
		Exe:     s.cfg.Exe,
		Args:    s.nodeArgs(addr),
		DataDir: s.cfg.DataDir,
	})
	if err != nil {
		return nil, node.Info{}, fmt.Errorf("start the router: %w", err)
	}
	return c, info, nil
}

// nodeArgs are the arguments of the node process serving the router on addr.
func (s *Server) nodeArgs(addr string) []string {
	args := []string{"node", "--data-dir", s.cfg.DataDir, "--http", addr}
	switch {
	case s.cfg.LogMaxAge > 0:
		args = append(args, "--log-max-age", s.cfg.LogMaxAge.String())
	case s.cfg.LogMaxAge < 0:
		args = append(args, "--log-max-age", "0") // no limit by age
	}
	if s.cfg.NATS != "" {
		args = append(args, "--nats", s.cfg.NATS)
	}
	if k := s.cfg.Kube; k != nil {
		args = append(args, "--kubernetes", orText(k.Kubeconfig, "in-cluster"), "--registry", k.Registry)
		if k.PullRegistry != "" {
			args = append(args, "--registry-pull", k.PullRegistry)
		}
		if k.Insecure {
			args = append(args, "--registry-insecure")
		}
	}
	return args
}

// builder builds the apps. On Kubernetes Go apps are built here without cgo:
// their image has no C library; the others are built in the cluster, on the
// language base image their release runs on.
func (s *Server) builder() *build.Builder {
	b := &build.Builder{GoCache: s.goCache()}
	if s.cfg.Kube != nil {
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		b.Remote = &kubebuild.Runner{Kube: *s.cfg.Kube, DataDir: s.cfg.DataDir, Logger: s.log}
	}
	return b
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// goCache is the Go build cache of app builds: the go command's own persistent
// cache of the user running prosper, which is warm from their other builds, or,
// for a service user without a home or cache dir, one in the data dir.
func (s *Server) goCache() string {
	if os.Getenv("GOCACHE") != "" {
		return ""
	}
	if dir, err := os.UserCacheDir(); err == nil && dir != "" {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, "cache", "go-build")
}

// sameNATS tells whether the node's NATS address (empty: none) satisfies the
// wanted one.
func sameNATS(have, want string) bool {
	if have == "" || want == "" {
		return have == want
	}
	return sameAddr(have, want)
}

// sameAddr tells whether the node's bound address satisfies the wanted one; a
// wanted port 0 takes any.
func sameAddr(have, want string) bool {
	if have == want {
		return true
	}
	wh, wp, err := net.SplitHostPort(want)
	hh, _, err2 := net.SplitHostPort(have)
	return err == nil && err2 == nil && wp == "0" && wh == hh
}

// Stop stops the control plane only; the node keeps serving live traffic.
func (s *Server) Stop(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	s.cancel()
	<-s.done
	s.background.Wait()
	s.rollout.Close()
	if cerr := s.series.Close(); err == nil {
		err = cerr
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	s.lock.Close()
	return err
}

// StopAll stops the control plane and the node with every app: the end of
// `prosper up` on Ctrl-C. The next start resumes every live release.
func (s *Server) StopAll(ctx context.Context) error {
	err := s.Stop(ctx)
	if s.node != nil {
		if nerr := s.node.Shutdown(ctx); err == nil {
			err = nerr
		}
	}
	return err
}

// URL is the API's base address.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// RouterURL is the data plane's base address.
func (s *Server) RouterURL() string { return s.routerURL }

// AdminTokenPath is where the admin token is written on first start.
func (s *Server) AdminTokenPath() string { return filepath.Join(s.cfg.DataDir, "admin-token") }

// Ready reports whether the API answers.
func (s *Server) Ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
