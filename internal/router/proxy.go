package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// newTransport returns the one transport all backends share. Keep-alives matter:
// without them every proxied request pays a TCP handshake, and a busy router runs
// out of ephemeral ports.
func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// Proxy stays nil: the backends are local or in-cluster, and an
		// HTTP_PROXY in the node's environment must not capture app traffic.
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// Responses pass through as the app sent them; with compression enabled
		// the transport would ask for gzip and decompress behind the app's back.
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// copyBufferSize is the size of the buffers the proxy copies response bodies with,
// the size it would allocate itself.
const copyBufferSize = 32 << 10

// bufferPool lends the proxy its copy buffers; without one it allocates a buffer
// for every response.
type bufferPool struct {
	pool sync.Pool
}

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (p *bufferPool) Get() []byte { return p.pool.Get().(*[copyBufferSize]byte)[:] }

func (p *bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		p.pool.Put((*[copyBufferSize]byte)(b))
	}
}

// attemptKey is the context key of the *attempt of a request.
type attemptKey struct{}

// attempt is where one request is being sent. ServeHTTP chooses the first target;
// retryTransport may move it once; the proxy hooks read it. All of them run on the
// request's goroutine, one after the other, so it needs no lock.
type attempt struct {
	route   *route
	backend *backend
	addr    string
	status  int
	logger  *slog.Logger
	// live captures the answer for a mirrored request's exchange, or is nil.
	live *liveCapture
	// proxyErr is why the release could not be reached, for the capture.
	proxyErr error
}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// rewrite points the outbound request at the chosen replica. The Host header is
// kept, as the app may serve several hosts; X-Forwarded-* tell it the rest. Any
// X-Forwarded-* the client sent was removed by the proxy: the router is the edge.
func rewrite(pr *httputil.ProxyRequest) {
	a := attemptFrom(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = a.addr
	pr.SetXForwarded()
	if a.route.mirror != nil {
		pr.Out.Header.Del(MirrorHeader)
	}
}

// modifyResponse names the release that answered, for tests, benchmarks and
// anyone debugging a split.
func modifyResponse(res *http.Response) error {
	a := attemptFrom(res.Request.Context())
	a.status = res.StatusCode
	if a.live != nil {
		// Before Prosper-Release: the candidate's answer has no such header.
		a.live.begin(res)
	}
	res.Header.Set("Prosper-Release", a.backend.label)
	return nil
}

// proxyError answers when the request could not be proxied.
func (rt *Router) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	a := attemptFrom(r.Context())
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer, and the release did
		// nothing wrong. 499 is the status nginx logs for this.
		a.status = 499
		return
	}
	a.backend.metrics.proxyErrors.Add(1)
	a.status = http.StatusBadGateway
	a.proxyErr = err
	rt.logger.Warn("release not answering", "app", a.backend.app, "release", a.backend.release, "addr", a.addr, "err", err)
	w.Header().Set("Prosper-Release", a.backend.label)
	http.Error(w, fmt.Sprintf("prosper: app %q release %s is not answering", a.backend.app, a.backend.label), http.StatusBadGateway)
}

// retryTransport retries a request once on another replica or release when the
// connection to the first one could not be made. Nothing was sent then, so the
// retry is safe for any method, and the body (which the reverse proxy protects
// from being closed) is still unread.
type retryTransport struct {
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a := attemptFrom(req.Context())
	if a != nil && req.Body != nil {
		// The transport closes the body when the dial fails, and the reverse
		// proxy's body refuses reads once closed; shield it so a retry can still
		// send it. The reverse proxy closes it itself when the request is done.
		req = req.WithContext(req.Context())
		req.Body = keepOpenBody{req.Body}
	}
	res, err := t.base.RoundTrip(req)
	if err == nil || a == nil || !isDialError(err) || req.Context().Err() != nil {
		return res, err
	}
	next, addr := a.route.alternative(a.backend, a.addr)
	if next == nil {
		return nil, err
	}
	a.logger.Warn("release refused a connection; retrying elsewhere",
		"app", a.backend.app, "release", a.backend.release, "addr", a.addr,
		"retry_release", next.release, "retry_addr", addr, "err", err)
	a.backend.metrics.proxyErrors.Add(1)
	a.backend.metrics.inFlight.Add(-1)
	next.metrics.inFlight.Add(1)
	a.backend, a.addr = next, addr

	retry := req.Clone(req.Context())
	retry.URL.Host = addr
	return t.base.RoundTrip(retry)
}

// keepOpenBody ignores Close, so a failed attempt leaves the body readable.
type keepOpenBody struct {
	io.ReadCloser
}

func (keepOpenBody) Close() error { return nil }

// isDialError reports whether err happened while connecting, before any byte of
// the request was written.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
