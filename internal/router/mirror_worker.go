package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The mirror's limits. The queue is bounded so a candidate slower than the live
// traffic costs dropped copies, never memory; the workers bound the connections
// and goroutines the copies use; the timeout bounds how long a hung candidate
// holds a worker.
const (
	defaultMirrorQueue   = 1024
	defaultMirrorWorkers = 16
	defaultMirrorTimeout = 10 * time.Second
)

// mirrorer sends the copies of mirrored requests to candidates and hands the
// exchanges to the sink. The request path only enqueues, without blocking.
//
// The copies keep live's order around writes (see copyOrder): a client that
// creates a note and then reads it makes the candidate create it before reading
// it too, whichever workers take the two copies.
type mirrorer struct {
	logger    *slog.Logger
	queue     chan *mirrorJob
	workers   int
	timeout   time.Duration
	transport *http.Transport
	sink      atomic.Pointer[func(Exchange)]
	start     sync.Once
	mu        sync.Mutex // orders tickets and queueing (see offer)
	ordersMu  sync.Mutex
	orders    map[orderKey]*copyOrder
}

func newMirrorer(logger *slog.Logger, queue, workers int, timeout time.Duration) *mirrorer {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &mirrorer{
		logger:  logger,
		queue:   make(chan *mirrorJob, queue),
		workers: workers,
		timeout: timeout,
		// A transport of its own: a candidate that hangs or hoards connections
		// must not take the live traffic's idle connections or dial slots.
		transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// mirrorJob is one request to copy. Everything in it is owned by the job: the
// request's goroutine may be gone by the time a worker takes it.
type mirrorJob struct {
	target   *mirrorTarget
	received time.Time
	request  CapturedRequest
	url      url.URL // path and query of the request
	host     string
	client   string // the client's address, host:port
	clientIP string
	proto    string
	live     *liveCapture // nil when no sink was set: nobody wants the pair
	ticket   *copyTicket  // the copy's place in its candidate's order
	order    *copyOrder
}

// offer copies the request to the route's candidate if the sampling selects it.
// It may replace r.Body (see bufferBody) and sets a.live when the live answer is
// to be captured. It never blocks on the candidate.
func (m *mirrorer) offer(t *mirrorTarget, r *http.Request, a *attempt, received time.Time) {
	// A protocol upgrade is a connection, not a request that can be replayed.
	if r.Header.Get("Upgrade") != "" {
		return
	}
	// A synthetic customer's request is always copied whatever the share: its
	// journey is judged on the candidate's answers too.
	if r.Header.Get(BotStepHeader) == "" && !t.sample() {
		return
	}
	body, ok := bufferBody(r, t.maxBody)
	if !ok {
		t.metrics.skipped.Add(1)
		return
	}
	header := withoutHopByHop(r.Header)
	header.Del(MirrorHeader)
	job := &mirrorJob{
		target:   t,
		received: received,
		request:  CapturedRequest{Method: r.Method, Path: r.URL.RequestURI(), Header: header, Body: body},
		url:      url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		host:     r.Host,
		proto:    "http",
	}
	if r.TLS != nil {
		job.proto = "https"
	}
	job.client = r.RemoteAddr
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		job.clientIP = ip
	}
	if m.sink.Load() != nil {
		job.live = newLiveCapture(t.maxBody)
	}
	m.start.Do(func() {
		for range m.workers {
			go m.work()
		}
	})
	// The ticket is taken and the job queued under one lock, so the order of
	// the tickets is the order of the queue.
	order := m.order(t.app, t.release)
	m.mu.Lock()
	job.ticket = order.take(writes(r.Method))
	job.order = order
	select {
	case m.queue <- job:
		a.live = job.live
	default:
		order.done(job.ticket)
		t.metrics.dropped.Add(1)
	}
	m.mu.Unlock()
}

// order returns the copy order of one candidate; it outlives table changes.
func (m *mirrorer) order(app string, release int) *copyOrder {
	m.ordersMu.Lock()
	defer m.ordersMu.Unlock()
	key := orderKey{app, release}
	o := m.orders[key]
	if o == nil {
		if m.orders == nil {
			m.orders = map[orderKey]*copyOrder{}
		}
		if len(m.orders) >= 64 {
			// Candidates come and go with deploys: forget the idle ones.
			for k, other := range m.orders {
				if other.idle() {
					delete(m.orders, k)
				}
			}
		}
		o = &copyOrder{}
		m.orders[key] = o
	}
	return o
}

type orderKey struct {
	app     string
	release int
}

func (m *mirrorer) work() {
	for job := range m.queue {
		m.serve(job)
	}
}

// serve sends one copy, records the candidate's metrics and, when a sink wants
// them, delivers the pair once the live answer is complete too.
func (m *mirrorer) serve(j *mirrorJob) {
	<-j.ticket.ready
	cand := m.send(j)
	j.order.done(j.ticket)
	metrics := j.target.metrics
	if cand.Err != "" {
		metrics.errors.Add(1)
		m.logger.Debug("mirror copy failed", "app", j.target.app, "release", j.target.release, "err", cand.Err)
	} else {
		metrics.observe(cand.Status, cand.Latency)
	}
	if j.live == nil {
		return
	}
	// A long live answer (a stream, a long poll) would hold the worker; past the
	// mirror timeout the pair is given up.
	if !j.live.wait(j.received.Add(m.timeout)) {
		metrics.skipped.Add(1)
		return
	}
	sink := m.sink.Load()
	if sink == nil {
		return
	}
	m.deliver(*sink, Exchange{
		App:              j.target.app,
		LiveRelease:      j.live.release,
		CandidateRelease: j.target.release,
		Request:          j.request,
		Client:           j.client,
		Live:             j.live.resp,
		Candidate:        cand,
		Time:             j.received,
	})
}

// deliver calls the sink. A panicking sink must not take the data plane down with
// it; it loses the one exchange.
func (m *mirrorer) deliver(sink func(Exchange), ex Exchange) {
	defer func() {
		if p := recover(); p != nil {
			m.logger.Error("mirror sink panicked", "app", ex.App, "panic", p)
		}
	}()
	sink(ex)
}

// send copies the request to the candidate and captures its answer.
func (m *mirrorer) send(j *mirrorJob) CapturedResponse {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	addr := j.target.nextAddr()
	req, err := http.NewRequestWithContext(ctx, j.request.Method, "http://"+addr, bytes.NewReader(j.request.Body))
	if err != nil {
		return CapturedResponse{Err: fmt.Sprintf("build the copy: %v", err)}
	}
	u := j.url
	u.Scheme, u.Host = "http", addr
	req.URL = &u
	req.Host = j.host
	req.Header = j.request.Header.Clone()
	// The same forwarding headers the live release gets (see rewrite).
	req.Header.Del("Forwarded")
	req.Header.Set("X-Forwarded-Host", j.host)
	req.Header.Set("X-Forwarded-Proto", j.proto)
	if j.clientIP != "" {
		req.Header.Set("X-Forwarded-For", j.clientIP)
	} else {
		req.Header.Del("X-Forwarded-For")
	}
	req.Header.Set(MirrorHeader, "1")

	start := time.Now()
	res, err := m.transport.RoundTrip(req)
	if err != nil {
		return CapturedResponse{Latency: time.Since(start), Err: m.describe(err)}
	}
	defer res.Body.Close()
	out := CapturedResponse{Status: res.StatusCode, Header: withoutHopByHop(res.Header)}
	out.Body, out.Truncated, err = readCapped(res.Body, j.target.maxBody)
	out.Latency = time.Since(start)
	if err != nil {
		out.Err = "read the response: " + m.describe(err)
	}
	return out
}

// describe turns a transport error into the text of CapturedResponse.Err.
func (m *mirrorer) describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within the mirror timeout of %s", m.timeout)
	}
	return err.Error()
}

// readCapped reads a response body, keeping at most limit bytes. It reads the
// rest too, so the latency covers the whole answer as the live one does and the
// connection can be reused.
func readCapped(body io.Reader, limit int64) ([]byte, bool, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit))
	if err != nil || int64(len(data)) < limit {
		return data, false, err
	}
	n, err := io.Copy(io.Discard, body)
	return data, n > 0, err
}
