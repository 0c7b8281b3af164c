package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
)

// ErrNotRunning is wrapped by the Client's errors when no node answers on the
// socket.
var ErrNotRunning = errors.New("the prosper node is not running")

// Client talks to a node over its unix socket. It implements runtime.Runtime, so
// the control plane drives the node's processes as it would any runtime.
type Client struct {
	socket string
	http   *http.Client
}

var _ runtime.Runtime = (*Client)(nil)

// NewClient returns a client of the node serving dataDir. It does not connect
// until a method is called.
func NewClient(dataDir string) *Client {
	sock := SocketPath(dataDir)
	return &Client{
		socket: sock,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 4,
		}},
	}
}

// notRunningError says the node does not answer and what to do about it.
type notRunningError struct {
	socket string
	err    error
}

func (e *notRunningError) Error() string {
	return fmt.Sprintf("the prosper node is not running (no answer on %s): start it with prosper up", e.socket)
}

func (e *notRunningError) Unwrap() []error { return []error{ErrNotRunning, e.err} }

// do sends a request and decodes a JSON answer into out (when not nil). Error
// answers become errors carrying the node's message; 404 wraps
// runtime.ErrNotFound.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("node %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send returns the response of a successful request; its body is the caller's to
// close.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("node %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://node"+path, body)
	if err != nil {
		return nil, fmt.Errorf("node %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if isNotListening(err) {
			return nil, &notRunningError{socket: c.socket, err: err}
		}
		return nil, fmt.Errorf("node %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("%s %s", resp.Status, bytes.TrimSpace(b))
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("node: %s: %w", e.Error, runtime.ErrNotFound)
	}
	return nil, fmt.Errorf("node: %s", e.Error)
}

// isNotListening reports whether err means nothing serves the socket (as
// opposed to a node that answered badly).
func isNotListening(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// Info returns who the node is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &info)
	return info, err
}

// SetRoutes replaces the node's routing table.
func (c *Client) SetRoutes(ctx context.Context, t router.Table) error {
	return c.do(ctx, http.MethodPut, "/v1/routes", t, nil)
}

// Routes returns the node's routing table.
func (c *Client) Routes(ctx context.Context) (router.Table, error) {
	var t router.Table
	err := c.do(ctx, http.MethodGet, "/v1/routes", nil, &t)
	return t, err
}

// Metrics returns what the routers saw of each release: the node's own and
// its router replicas', summed (see MetricsWindow for whether that is complete).
func (c *Client) Metrics(ctx context.Context) ([]router.ReleaseMetrics, error) {
	var m []router.ReleaseMetrics
	err := c.do(ctx, http.MethodGet, "/v1/metrics", nil, &m)
	return m, err
}

// TakeIntervalLatency returns the latency quantiles of each release since the
// previous call, merged over the node's router and its replicas, and starts a
// new interval. The metrics history is
// its one caller; see router.TakeIntervalLatency.
func (c *Client) TakeIntervalLatency(ctx context.Context) ([]router.IntervalLatency, error) {
	var l []router.IntervalLatency
	err := c.do(ctx, http.MethodPost, "/v1/metrics/interval", nil, &l)
	return l, err
}

// Prometheus returns the routers' metrics in Prometheus text exposition
// format, each series summed over the node's router and its replicas.
func (c *Client) Prometheus(ctx context.Context) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/metrics/prometheus", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// ProcStats returns the CPU time, resident memory and restarts of every
// workload's processes.
func (c *Client) ProcStats(ctx context.Context) ([]ProcStats, error) {
	var st []ProcStats
	err := c.do(ctx, http.MethodGet, "/v1/procstats", nil, &st)
	return st, err
}

// InFlight returns the number of requests a release is serving now on the
// node's router and its replicas; a replica that has not taken the current
// routing table yet counts one more.
func (c *Client) InFlight(ctx context.Context, app string, release int) (int64, error) {
	var f inFlight
	q := url.Values{"app": {app}, "release": {strconv.Itoa(release)}}
	err := c.do(ctx, http.MethodGet, "/v1/inflight?"+q.Encode(), nil, &f)
	return f.InFlight, err
}

// Start runs the workload on the node.
func (c *Client) Start(ctx context.Context, spec runtime.Spec) error {
	return c.do(ctx, http.MethodPut, "/v1/workloads/"+url.PathEscape(spec.ID), spec, nil)
}

// Stop stops the workload; an unknown id gives an error wrapping
// runtime.ErrNotFound.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/workloads/"+url.PathEscape(id), nil, nil)
}

// List returns the status of every workload on the node.
func (c *Client) List(ctx context.Context) ([]runtime.Status, error) {
	var st []runtime.Status
	err := c.do(ctx, http.MethodGet, "/v1/workloads", nil, &st)
	return st, err
}

// Logs streams the app's matching lines to fn; with q.Follow it returns when ctx
// ends (with nil) or the node goes away (with an error).
func (c *Client) Logs(ctx context.Context, q runtime.LogQuery, fn func(runtime.LogLine) error) error {
	v := url.Values{"app": {q.App}}
	if q.Release != 0 {
		v.Set("release", strconv.Itoa(q.Release))
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.Grep != "" {
		v.Set("grep", q.Grep)
	}
	if q.Follow {
		v.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/logs?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4*maxLogLine)
	for sc.Scan() {
		var l runtime.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("node logs: decode line: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("node logs: %w", err)
	}
	if q.Follow {
		return errors.New("node logs: the node closed the stream (it is stopping or restarting)")
	}
	return nil
}

// Shutdown asks the node to stop its workloads and exit, and waits until its
// process is gone or ctx (by default a minute) ends. A node that is not running is not an error.
func (c *Client) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		// The node gives its apps StopTimeout each, in parallel; past a minute
		// something is wrong and the caller should hear about it.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	info, err := c.Info(ctx)
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shut down node: %w", err)
	}
	if err := c.do(ctx, http.MethodPost, "/v1/shutdown", nil, nil); err != nil {
		return fmt.Errorf("shut down node: %w", err)
	}
	c.http.CloseIdleConnections()
	if err := waitExit(ctx, info.PID); err != nil {
		return fmt.Errorf("shut down node (pid %d): %w", info.PID, err)
	}
	return nil
}

// waitExit polls until the process is gone (or a zombie) or ctx ends.
func waitExit(ctx context.Context, pid int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("still running: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
	return nil
}

// ErrMirrorStreamEnded is wrapped by the error MirrorExchanges returns when the
// node ended the stream: it is stopping, or the connection broke.
var ErrMirrorStreamEnded = errors.New("the node ended the mirror stream (it is stopping or restarting)")

// MirrorExchanges streams the mirrored exchanges of the node's router and of
// its router replicas to fn, only the app's
// when app is not empty, until ctx ends (the error wraps context.Cause(ctx)),
// the node ends the stream (the error wraps ErrMirrorStreamEnded) or fn returns
// an error (returned as is). Exchanges mirrored while the caller reads too
// slowly are dropped by the node and counted in MirrorSubscribers.
func (c *Client) MirrorExchanges(ctx context.Context, app string, fn func(router.Exchange) error) error {
	next, err := c.SubscribeMirror(ctx, app)
	if err != nil {
		return err
	}
	for {
		ex, err := next()
		if err != nil {
			return err
		}
		if err := fn(ex); err != nil {
			return err
		}
	}
}

// SubscribeMirror opens a stream of the node's mirrored exchanges (the app's
// only when app is not empty) and returns once the node has registered it, so
// no exchange mirrored after it returns is missed. next returns the exchanges
// one at a time, and an error once ctx ends (wrapping context.Cause(ctx)) or
// the node ends the stream (wrapping ErrMirrorStreamEnded); the stream is
// closed then. Cancel ctx to close it early.
func (c *Client) SubscribeMirror(ctx context.Context, app string) (next func() (router.Exchange, error), err error) {
	path := "/v1/mirror/exchanges"
	if app != "" {
		path += "?" + url.Values{"app": {app}}.Encode()
	}
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("node mirror exchanges: %w", context.Cause(ctx))
		}
		return nil, err
	}
	// A decoder, not a line scanner: an exchange holds up to three bodies of
	// the policy's MaxBodyBytes, more than any fixed line limit would allow.
	dec := json.NewDecoder(resp.Body)
	return func() (router.Exchange, error) {
		var ex router.Exchange
		err := dec.Decode(&ex)
		switch {
		case ctx.Err() != nil:
			resp.Body.Close()
			return ex, fmt.Errorf("node mirror exchanges: %w", context.Cause(ctx))
		case errors.Is(err, io.EOF):
			resp.Body.Close()
			return ex, fmt.Errorf("node mirror exchanges: %w", ErrMirrorStreamEnded)
		case err != nil:
			resp.Body.Close()
			return ex, fmt.Errorf("node mirror exchanges: %w: %w", ErrMirrorStreamEnded, err)
		}
		return ex, nil
	}, nil
}

// MirrorMetrics returns what the routers (the node's and its replicas') saw
// of the copies sent to each candidate release.
func (c *Client) MirrorMetrics(ctx context.Context) ([]router.MirrorMetrics, error) {
	var m []router.MirrorMetrics
	err := c.do(ctx, http.MethodGet, "/v1/mirror/metrics", nil, &m)
	return m, err
}

// MirrorSubscribers returns the open mirror streams with what each was sent and
// lost to reading too slowly.
func (c *Client) MirrorSubscribers(ctx context.Context) ([]MirrorSubscriber, error) {
	var s []MirrorSubscriber
	err := c.do(ctx, http.MethodGet, "/v1/mirror/subscribers", nil, &s)
	return s, err
}

// MetricsWindow returns the metrics of every release summed over the node's
// router and its router replicas, with whether the replicas' data is complete
// since since. A reader that takes a ratio over the window must not judge an
// incomplete one.
func (c *Client) MetricsWindow(ctx context.Context, since time.Time) (router.Window, error) {
	var w router.Window
	q := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}}
	err := c.do(ctx, http.MethodGet, "/v1/metrics/window?"+q.Encode(), nil, &w)
	return w, err
}

// Routers lists the router replicas reporting to the node.
func (c *Client) Routers(ctx context.Context) ([]router.ReplicaStatus, error) {
	var st []router.ReplicaStatus
	err := c.do(ctx, http.MethodGet, "/v1/routers", nil, &st)
	return st, err
}

// MirrorLosses lists what may be missing of app's mirrored exchanges since
// since: exchanges a router replica lost, and its stretches of missing data.
func (c *Client) MirrorLosses(ctx context.Context, app string, since time.Time) ([]router.Missing, error) {
	var l []router.Missing
	q := url.Values{"app": {app}, "since": {since.UTC().Format(time.RFC3339Nano)}}
	err := c.do(ctx, http.MethodGet, "/v1/mirror/losses?"+q.Encode(), nil, &l)
	return l, err
}
