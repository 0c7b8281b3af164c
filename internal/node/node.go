// Package node is prosper's data plane on one machine: a process, separate from
// the control plane, that runs the HTTP router and supervises the apps' processes.
//
// The control plane (`prosper up`) spawns it detached and drives it over HTTP on
// the unix socket DATA_DIR/node.sock. Because the node is its own process, the
// control plane can crash or restart while live traffic keeps flowing; a new
// control plane finds the node alive and adopts it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// Files in the data directory.
const (
	socketName   = "node.sock"
	lockName     = "node.lock"
	pidFileName  = "node-pids.json"
	routesName   = "routes.json"
	nodeLogName  = "node.log"
	maxSocketLen = 107 // sun_path holds 108 bytes with the terminating NUL
)

// ErrAddrInUse is wrapped by the error Run returns when the router's address is
// taken by another program.
var ErrAddrInUse = errors.New("router address in use")

// addrInUseError tells the user which address is taken and what to do.
type addrInUseError struct{ addr string }

func (e *addrInUseError) Error() string {
	return fmt.Sprintf("router address %s is in use: stop the program using it or pass --http ADDR", e.addr)
}

func (e *addrInUseError) Unwrap() error { return ErrAddrInUse }

// Config configures a node.
type Config struct {
	// DataDir holds the socket, logs, routes.json and node-pids.json.
	DataDir string
	// HTTPAddr is where the router listens for app traffic, e.g. 127.0.0.1:8080.
	HTTPAddr string
	Logger   *slog.Logger
	// StopTimeout is how long an app process may take to exit after SIGTERM;
	// 0 means 10s.
	StopTimeout time.Duration
	// Version is reported by /v1/info; empty means the binary's module version.
	Version string
	// MirrorBuffer is how many mirrored exchanges wait for each slow subscriber
	// of /v1/mirror/exchanges before more are dropped; 0 means
	// DefaultMirrorBuffer.
	MirrorBuffer int
	// LogMaxAge is how long the apps' log files are kept after their last
	// line (prosper up --log-max-age); 0 means DefaultLogMaxAge, less than 0
	// no limit by age.
	LogMaxAge time.Duration
	// Kube runs the apps on a Kubernetes cluster instead of as processes of
	// this machine (prosper up --kubernetes); nil runs them here.
	Kube *KubeConfig
	// NATSAddr, when set (prosper up --nats), runs an embedded NATS server
	// with JetStream on this address for router replicas (prosper router):
	// they get the routing table from it and report their figures on it.
	// Port 0 picks a free port (see Info.NATSAddr).
	NATSAddr string
}

// Info describes a running node.
type Info struct {
	PID       int       `json:"pid"`
	HTTPAddr  string    `json:"http_addr"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// Runtime is where the apps run: "processes" or "kubernetes".
	Runtime string `json:"runtime,omitempty"`
	// NATSAddr is where router replicas connect (host:port), empty without
	// --nats.
	NATSAddr string `json:"nats_addr,omitempty"`
}

// Where a node runs the apps (Info.Runtime).
const (
	RuntimeProcesses  = "processes"
	RuntimeKubernetes = "kubernetes"
)

// SocketPath returns where the node of dataDir serves its control API.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, socketName) }

// node is a running node's state, shared by its API handlers.
type node struct {
	dataDir string
	logger  *slog.Logger
	info    Info
	sup     *Supervisor
	router  *router.Router
	// fleet is the router's figures summed with the router replicas';
	// every reader of the router's metrics reads it.
	fleet  *router.Fleet
	bus    *bus // nil without Config.NATSAddr
	mirror *mirrorHub

	routesMu     sync.Mutex   // serializes SetTable with writing routes.json
	given        router.Table // the table the control plane set; guarded by routesMu
	shutdownOnce sync.Once
	shutdown     chan struct{}
}

// Run serves the router on cfg.HTTPAddr and the control API on the node socket
// until ctx ends or the API is asked to shut down; then it stops every workload
// gracefully and returns.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		return errors.New("node: data directory is required")
	}
	if cfg.HTTPAddr == "" {
		return errors.New("node: router address is required (--http ADDR)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	sock := SocketPath(cfg.DataDir)
	if len(sock) > maxSocketLen {
		return fmt.Errorf("socket path %s is longer than %d bytes: use a shorter --data-dir", sock, maxSocketLen)
	}

	unlock, err := lockDataDir(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	if err := killLeftovers(filepath.Join(cfg.DataDir, pidFileName), cfg.Logger); err != nil {
		return err
	}

	routerLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return &addrInUseError{addr: cfg.HTTPAddr}
	}
	if err != nil {
		return fmt.Errorf("listen on router address %s: %w", cfg.HTTPAddr, err)
	}
	defer routerLn.Close()

	// The lock says no other node runs for this directory; a node that answers
	// on the socket all the same (one started without the lock) is not replaced.
	probeCtx, cancelProbe := context.WithTimeout(ctx, time.Second)
	info, err := NewClient(cfg.DataDir).Info(probeCtx)
	cancelProbe()
	if err == nil {
		return fmt.Errorf("another prosper node (pid %d) answers on %s: stop it first or use another --data-dir", info.PID, sock)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	apiLn, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer os.Remove(sock)
	defer apiLn.Close()
	// Whoever can connect can run commands as the node's user: only that user.
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("restrict %s: %w", sock, err)
	}

	sup, err := NewSupervisor(SupervisorConfig{
		DataDir: cfg.DataDir, Logger: cfg.Logger, StopTimeout: cfg.StopTimeout, LogMaxAge: cfg.LogMaxAge, Kube: cfg.Kube,
	})
	if err != nil {
		return err
	}
	n := &node{
		dataDir: cfg.DataDir,
		logger:  cfg.Logger,
		info: Info{
			PID: os.Getpid(), HTTPAddr: routerLn.Addr().String(),
			Version: cfg.Version, StartedAt: time.Now().UTC(), Runtime: RuntimeProcesses,
		},
		sup:      sup,
		router:   router.New(cfg.Logger),
		mirror:   newMirrorHub(cfg.Logger, cfg.MirrorBuffer),
		shutdown: make(chan struct{}),
	}
	if sup.kube != nil {
		n.info.Runtime = RuntimeKubernetes
		sup.kube.setOnChange(n.reresolve)
	}
	n.fleet = router.NewFleet(n.router, router.FleetConfig{})
	n.router.SetMirrorSink(n.mirror.publish)
	if cfg.NATSAddr != "" {
		// Before the routes load, so that the replicas get them at once.
		if n.bus, err = startBus(cfg.DataDir, cfg.NATSAddr, n.fleet, n.mirror.publish, cfg.Logger); err != nil {
			return err
		}
		defer n.bus.close()
		n.info.NATSAddr = n.bus.addr
	}
	if err := n.loadRoutes(); err != nil {
		// Serving no routes beats not serving: the control plane re-sends the
		// table when it adopts the node.
		cfg.Logger.Warn("ignoring saved routes", "err", err)
	}

	routerSrv := &http.Server{
		Handler:           n.router,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	// Following log streams end when the API's base context is cancelled, so
	// the API server can shut down without waiting for them.
	apiCtx, cancelAPI := context.WithCancel(context.Background())
	defer cancelAPI()
	apiSrv := &http.Server{
		Handler:           n.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return apiCtx },
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- serve(routerSrv, routerLn, "router") }()
	go func() { serveErr <- serve(apiSrv, apiLn, "control API") }()

	cfg.Logger.Info("node ready", "http", n.info.HTTPAddr, "socket", sock, "pid", n.info.PID, "version", n.info.Version, "nats", n.info.NATSAddr)

	var runErr error
	select {
	case <-ctx.Done():
		cfg.Logger.Info("node stopping", "reason", context.Cause(ctx))
	case <-n.shutdown:
		cfg.Logger.Info("node stopping", "reason", "shutdown requested")
	case runErr = <-serveErr:
		cfg.Logger.Error("node stopping", "err", runErr)
	}

	// Requests in flight finish while their backends still run; then the apps
	// stop; the control API goes last so a client can watch the shutdown.
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelDrain()
	if err := routerSrv.Shutdown(drainCtx); err != nil {
		cfg.Logger.Warn("router did not drain in time", "err", err)
	}
	// Mirror streams end with the traffic; they would hold up the API's shutdown.
	n.mirror.close()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), cfg.StopTimeout+5*time.Second)
	defer cancelStop()
	if err := sup.Close(stopCtx); err != nil {
		cfg.Logger.Warn("close supervisor", "err", err)
	}
	cancelAPI()
	apiDrain, cancelAPIDrain := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelAPIDrain()
	_ = apiSrv.Shutdown(apiDrain)
	cfg.Logger.Info("node stopped")
	return runErr
}

func serve(srv *http.Server, ln net.Listener, what string) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", what, err)
	}
	return nil
}

func (n *node) requestShutdown() {
	n.shutdownOnce.Do(func() { close(n.shutdown) })
}

// lockDataDir takes an exclusive lock on DATA_DIR/node.lock for the life of the
// node. The kernel drops the lock when the process dies, however it dies, so a
// lock held means a live node.
func lockDataDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open node lock: %w", err)
	}
	if err := flockBriefly(ctx, f); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		who := "another prosper node"
		infoCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if info, err := NewClient(dir).Info(infoCtx); err == nil {
			who = fmt.Sprintf("another prosper node (pid %d, router on %s)", info.PID, info.HTTPAddr)
		}
		return nil, fmt.Errorf("%s already runs for data directory %s: stop it first or use another --data-dir", who, dir)
	}
	return func() { f.Close() }, nil
}

// flockBriefly takes an exclusive flock, trying for up to a second. A lock just
// released can stay held for an instant by a child process forked (by any
// goroutine of the releasing process) but not yet exec'd, which shares the open
// file until its exec closes it.
func flockBriefly(ctx context.Context, f *os.File) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
