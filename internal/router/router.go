package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Router is the data plane's HTTP handler. It is safe for concurrent use, and
// SetTable may be called while requests are being served.
type Router struct {
	logger    *slog.Logger
	table     atomic.Pointer[compiledTable]
	setMu     sync.Mutex // serializes SetTable so the stored table is the last one set
	metrics   *metricsRegistry
	transport *http.Transport
	proxy     *httputil.ReverseProxy

	mirror        *mirrorer
	mirrorMetrics *mirrorRegistry
}

// New returns a router with an empty table: every host answers 404 until the first
// SetTable. A nil logger discards logs.
func New(logger *slog.Logger) *Router {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rt := &Router{
		logger:    logger,
		metrics:   newMetricsRegistry(),
		transport: newTransport(),
		// The mirror's workers start with the first copy, so a router that
		// never mirrors runs none.
		mirror:        newMirrorer(logger, defaultMirrorQueue, defaultMirrorWorkers, defaultMirrorTimeout),
		mirrorMetrics: newMirrorRegistry(),
	}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: &retryTransport{base: rt.transport},
		// Zero: the proxy flushes streaming answers (event streams, unknown
		// length) at once by itself; -1 would also start a timer goroutine and
		// flush every ordinary answer.
		FlushInterval:  0,
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler:   rt.proxyError,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	rt.table.Store(compile(Table{}, rt.metrics, rt.mirrorMetrics))
	return rt
}

// SetTable replaces the routing table. An invalid table is refused with an error
// wrapping ErrInvalidTable and the router keeps serving the previous one. Requests
// already in flight finish on the backend they started on.
func (rt *Router) SetTable(t Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	rt.setMu.Lock()
	defer rt.setMu.Unlock()
	// The control plane may resend an unchanged table (after a restart, on a
	// timer); keeping the compiled one keeps the round-robin positions.
	if reflect.DeepEqual(rt.table.Load().source, t) {
		return nil
	}
	t = t.clone()
	rt.table.Store(compile(t, rt.metrics, rt.mirrorMetrics))
	rt.logger.Info("routing table set", "routes", len(t.Routes))
	return nil
}

// Table returns a copy of the table in use.
func (rt *Router) Table() Table {
	return rt.table.Load().source.clone()
}

// CloseIdleConnections closes the idle keep-alive connections to backends, for a
// clean shutdown.
func (rt *Router) CloseIdleConnections() {
	rt.transport.CloseIdleConnections()
	rt.mirror.transport.CloseIdleConnections()
}

// SetMirrorSink sets the function that receives the exchange of every mirrored
// request: the live answer and the candidate's. Nil (the default) delivers none;
// the copies are still sent and counted in MirrorMetrics. The sink is called from
// the mirror's few workers, one exchange at a time each: it must return quickly
// (compare in memory, or hand the exchange off to a channel of its own), or the
// mirror queue fills and copies are dropped. The sink owns the exchange it gets.
func (rt *Router) SetMirrorSink(sink func(Exchange)) {
	if sink == nil {
		rt.mirror.sink.Store(nil)
		return
	}
	rt.mirror.sink.Store(&sink)
}

// ServeHTTP routes the request by its Host header and proxies it to a release of
// the app that serves the host.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := normalizeHost(r.Host)
	route := rt.table.Load().hosts[host]
	if route == nil {
		http.Error(w, noAppMessage(host), http.StatusNotFound)
		return
	}
	b := route.pick()
	if b == nil {
		http.Error(w, fmt.Sprintf("prosper: app %q has no live release yet", route.app), http.StatusServiceUnavailable)
		return
	}

	a := &attempt{route: route, backend: b, addr: b.nextAddr(), logger: rt.logger}
	b.metrics.inFlight.Add(1)
	start := time.Now()
	out := r.WithContext(context.WithValue(r.Context(), attemptKey{}, a))
	if route.mirror != nil {
		rt.mirror.offer(route.mirror, out, a, start)
	}
	defer func() {
		// The proxy panics with http.ErrAbortHandler when a response breaks off
		// midway; the accounting must happen all the same, then the panic goes on
		// to the server, which closes the connection.
		p := recover()
		if p != nil && r.Context().Err() == nil {
			a.backend.metrics.proxyErrors.Add(1)
		}
		m := a.backend.metrics
		m.inFlight.Add(-1)
		latency := time.Since(start)
		m.observe(a.status, float64(latency)/float64(time.Millisecond))
		if a.live != nil {
			a.live.finish(a, latency, p != nil)
		}
		if p != nil {
			panic(p)
		}
	}()
	rt.proxy.ServeHTTP(w, out)
}

// noAppMessage tells the user how to make the host work. For NAME.localhost, the
// default host of an app, it can name the command exactly.
func noAppMessage(host string) string {
	name := "NAME"
	if app, ok := strings.CutSuffix(host, ".localhost"); ok && app != "" && !strings.Contains(app, ".") {
		name = app
	}
	return fmt.Sprintf("prosper: no app serves host %q; create it with: prosper app create %s", host, name)
}
