package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/prosperhq/prosper/internal/router"
)

// RouterConfig configures a router replica (prosper router).
type RouterConfig struct {
	// NATSURL is the node's NATS server, nats://HOST:PORT (prosper up --nats).
	NATSURL string
	// Token is the node's NATS token ($PROSPER_NATS_TOKEN).
	Token string
	// HTTPAddr serves the apps' traffic; default 0.0.0.0:8080.
	HTTPAddr string
	// HealthAddr serves /healthz and /readyz; default 0.0.0.0:8081.
	HealthAddr string
	// Name identifies the replica to the control plane; default the host
	// name (the pod's name on Kubernetes).
	Name string
	// Drain is how long the replica keeps serving after it is told to stop,
	// with /readyz answering 503, so that the load balancer stops sending to
	// it first; default 5s, negative for none.
	Drain  time.Duration
	Logger *slog.Logger
	// Listening, when set, is called with the bound addresses once both
	// listeners are open (port 0 picks free ones).
	Listening func(httpAddr, healthAddr string)

	// crash, in tests, ends the replica at once when closed, without drain,
	// goodbye or last report: as kill -9 would.
	crash <-chan struct{}
}

// Defaults of RouterConfig.
const (
	DefaultRouterHTTP   = "0.0.0.0:8080"
	DefaultRouterHealth = "0.0.0.0:8081"
	DefaultRouterDrain  = 5 * time.Second
)

// Replica limits: reports kept while NATS is unreachable (ten minutes of
// them; older ones are dropped, which the control plane sees as a gap), and
// exchanges waiting to be sent.
const (
	replicaPendingReports = 600
	replicaExchangeQueue  = 1024
	reportEvery           = time.Second
)

// ErrNoToken is returned by RunRouter without a NATS token.
var ErrNoToken = errors.New(TokenEnv + " is not set: give the router replica the node's NATS token " +
	"(prosper up --nats keeps it in DATA_DIR/nats-token unless " + TokenEnv + " set it)")

// routerReplica is a running router replica.
type routerReplica struct {
	cfg      RouterConfig
	logger   *slog.Logger
	rt       *router.Router
	reporter *router.Reporter
	nc       *nats.Conn
	js       jetstream.JetStream

	rev      atomic.Uint64 // revision of the table served; 0: none yet
	draining atomic.Bool
	nudge    chan struct{} // report now: a new table is served
	exq      chan router.Exchange

	pendingMu sync.Mutex
	pending   []router.Report
}

// RunRouter runs a router replica until ctx ends: it serves the apps with the
// routing table the node publishes over NATS JetStream, mirrors as the node's
// router does, and reports its figures and mirrored exchanges to the node.
// When ctx ends it drains (see RouterConfig.Drain), finishes the requests in
// flight and sends a last report with a goodbye. It keeps serving its last
// table while NATS is unreachable.
func RunRouter(ctx context.Context, cfg RouterConfig) error {
	if cfg.NATSURL == "" {
		return errors.New("router replica: the node's NATS address is required (--nats nats://HOST:4222)")
	}
	if cfg.Token == "" {
		return ErrNoToken
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultRouterHTTP
	}
	if cfg.HealthAddr == "" {
		cfg.HealthAddr = DefaultRouterHealth
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultRouterDrain
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return fmt.Errorf("router replica: no --name and no host name: %v", err)
		}
		cfg.Name = h
	}
	logger := cfg.Logger.With("replica", cfg.Name)
	rt := router.New(logger)
	r := &routerReplica{
		cfg: cfg, logger: logger, rt: rt, reporter: router.NewReporter(rt, cfg.Name),
		nudge: make(chan struct{}, 1), exq: make(chan router.Exchange, replicaExchangeQueue),
	}

	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return &addrInUseError{addr: cfg.HTTPAddr}
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer httpLn.Close()
	healthLn, err := net.Listen("tcp", cfg.HealthAddr)
	if err != nil {
		return fmt.Errorf("listen on health address %s: %w", cfg.HealthAddr, err)
	}
	defer healthLn.Close()

	r.nc, err = nats.Connect(cfg.NATSURL, nats.Token(cfg.Token), nats.Name("prosper-router "+cfg.Name),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("disconnected from NATS; serving the last table", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Warn("NATS", "err", err) }),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	defer r.nc.Close()
	if r.js, err = jetstream.New(r.nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	rt.SetMirrorSink(r.offerExchange)

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	// The table watch and the reports stop first at shutdown, the exchanges'
	// sender once the queue is flushed.
	taskCtx, stopTasks := context.WithCancel(bg)
	defer stopTasks()
	var tasks sync.WaitGroup
	tasks.Go(func() { r.watchTable(taskCtx) })
	tasks.Go(func() { r.reportLoop(taskCtx) })
	exDone := make(chan struct{})
	go func() { defer close(exDone); r.sendExchanges(bg) }()

	httpSrv := &http.Server{
		Handler:           rt,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	healthSrv := &http.Server{Handler: r.healthHandler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 2)
	go func() { serveErr <- serve(httpSrv, httpLn, "router") }()
	go func() { serveErr <- serve(healthSrv, healthLn, "health") }()
	if cfg.Listening != nil {
		cfg.Listening(httpLn.Addr().String(), healthLn.Addr().String())
	}
	logger.Info("router replica started", "http", httpLn.Addr().String(), "health", healthLn.Addr().String(), "nats", cfg.NATSURL)

	var runErr error
	select {
	case <-ctx.Done():
	case <-cfg.crash:
		httpSrv.Close()
		healthSrv.Close()
		r.nc.Close()
		return nil
	case runErr = <-serveErr:
	}

	// Drain: not ready any more, still serving, so that the Service and the
	// ingress stop sending here before the listener closes.
	r.draining.Store(true)
	if runErr == nil && cfg.Drain > 0 {
		logger.Info("router replica draining", "for", cfg.Drain)
		select {
		case <-time.After(cfg.Drain):
		case <-cfg.crash:
			return nil
		}
	}
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelShut()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		logger.Warn("requests still in flight at shutdown", "err", err)
	}
	rt.CloseIdleConnections()
	// The exchanges queued go out, then the last report says goodbye.
	stopTasks()
	tasks.Wait()
	r.flushExchanges(exDone, stopBG)
	r.queueReport(true)
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFlush()
	if !r.flushReports(flushCtx) {
		logger.Warn("the last report did not reach the control plane; it will count this replica as missing until it forgets it")
	}
	_ = healthSrv.Shutdown(flushCtx)
	logger.Info("router replica stopped")
	return runErr
}

// watchTable applies every table the node publishes. A watch gives each new
// revision at once; a poll every two seconds covers a watch that broke while
// NATS was away.
func (r *routerReplica) watchTable(ctx context.Context) {
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	for ctx.Err() == nil {
		kv, err := r.js.KeyValue(ctx, routesBucket)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-poll.C:
			}
			continue
		}
		w, err := kv.Watch(ctx, tableKey)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-poll.C:
			}
			continue
		}
	watch:
		for {
			select {
			case <-ctx.Done():
				break watch
			case e, ok := <-w.Updates():
				if !ok {
					break watch
				}
				if e != nil {
					r.applyTable(e)
				}
			case <-poll.C:
				e, err := kv.Get(ctx, tableKey)
				if err == nil {
					r.applyTable(e)
				}
			}
		}
		_ = w.Stop()
	}
}

func (r *routerReplica) applyTable(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut || e.Revision() == r.rev.Load() {
		return
	}
	var t router.Table
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		r.logger.Error("unreadable routing table from the control plane", "revision", e.Revision(), "err", err)
		return
	}
	if err := r.rt.SetTable(t); err != nil {
		r.logger.Error("routing table refused", "revision", e.Revision(), "err", err)
		return
	}
	r.rev.Store(e.Revision())
	r.logger.Info("routing table applied", "revision", e.Revision(), "routes", len(t.Routes))
	select {
	case r.nudge <- struct{}{}: // tell the control plane at once: it waits for it to drain releases
	default:
	}
}

// healthHandler serves /healthz (the process runs) and /readyz (ready for
// traffic: it holds a table and is not draining).
func (r *routerReplica) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := r.ready()
		if !ok {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, reason)
	})
	return mux
}

// ready says whether the replica should get traffic, and why (not). Once it
// holds a table it stays ready while NATS is away: it serves its last table,
// and every replica losing the control plane at once must not take the apps
// off the load balancer.
func (r *routerReplica) ready() (bool, string) {
	rev := r.rev.Load()
	switch {
	case r.draining.Load():
		return false, "draining: the replica is stopping"
	case rev == 0 && !r.nc.IsConnected():
		return false, "not connected to NATS at " + r.cfg.NATSURL + " yet"
	case rev == 0:
		return false, "waiting for the routing table from the control plane"
	case !r.nc.IsConnected():
		return true, fmt.Sprintf("serving routing table revision %d; NATS unreachable, serving the last table", rev)
	}
	return true, fmt.Sprintf("serving routing table revision %d", rev)
}
