package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// pacedLoad is an open-loop load at a fixed rate, what wrk2 does and Debian's
// wrk cannot: requests are due at fixed times whatever the answers take, and a
// request's latency runs from when it was due, not from when it was sent, so a
// stalled server is charged for the requests it held up (no "coordinated
// omission").
type pacedLoad struct {
	// rate is requests per second over all connections.
	rate        float64
	connections int
	duration    time.Duration
	// timeout bounds one request; a request past it counts as an error.
	timeout time.Duration
}

// pacedResult is what one paced run measured.
type pacedResult struct {
	// requests counts the answered requests, errors the failed ones (transport
	// errors, timeouts and statuses other than 200).
	requests, errors int64
	// rate is the answered requests per second.
	rate     float64
	p50, p99 time.Duration
}

// dueAt is when request k of connection c of n is due, at rate requests per
// second from start. The connections take turns: request k of connection c is
// number k*n+c of the run, so the requests are spread evenly in time and each
// connection sends at rate/n.
func dueAt(start time.Time, rate float64, n, c, k int) time.Time {
	i := float64(k)*float64(n) + float64(c)
	return start.Add(time.Duration(math.Round(i / rate * float64(time.Second))))
}

// latencyAccuracy is the relative accuracy of the latency quantiles.
const latencyAccuracy = 0.005

// runPaced drives url at the load's fixed rate with the bench Host header over
// its own keep-alive connections, one goroutine each, and returns the latency
// quantiles. The connections are opened before the clock starts.
func runPaced(ctx context.Context, rawURL string, l pacedLoad) (pacedResult, error) {
	if l.rate <= 0 || l.connections < 1 || l.duration <= 0 {
		return pacedResult{}, fmt.Errorf("paced load %+v: want a positive rate, connections and duration", l)
	}
	if l.timeout <= 0 {
		l.timeout = 2 * time.Second
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return pacedResult{}, err
	}
	path := u.RequestURI()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + benchHost + "\r\nUser-Agent: routerbench\r\n\r\n")

	workers := make([]*pacedConn, l.connections)
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.close()
			}
		}
	}()
	for i := range workers {
		sk, err := ddsketch.NewDefaultDDSketch(latencyAccuracy)
		if err != nil {
			return pacedResult{}, err
		}
		workers[i] = &pacedConn{addr: u.Host, req: req, timeout: l.timeout, sketch: sk}
		if err := workers[i].dial(ctx); err != nil {
			return pacedResult{}, fmt.Errorf("paced load %s: %w", rawURL, err)
		}
	}

	start := time.Now()
	end := start.Add(l.duration)
	var wg sync.WaitGroup
	for c, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				due := dueAt(start, l.rate, l.connections, c, k)
				// A target that cannot keep up leaves requests due before
				// the end unsent when the time is up, as wrk2 does; the
				// answered rate shows it.
				if !due.Before(end) || !time.Now().Before(end) || ctx.Err() != nil {
					return
				}
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				w.do(ctx, due)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return pacedResult{}, err
	}

	var r pacedResult
	total := workers[0].sketch
	for i, w := range workers {
		r.requests += w.ok
		r.errors += w.errors
		if i > 0 {
			if err := total.MergeWith(w.sketch); err != nil {
				return pacedResult{}, err
			}
		}
	}
	if r.requests == 0 {
		return r, fmt.Errorf("paced load %s: no request answered; last error: %v", rawURL, workers[0].lastErr)
	}
	r.rate = float64(r.requests) / l.duration.Seconds()
	q, err := total.GetValuesAtQuantiles([]float64{0.5, 0.99})
	if err != nil {
		return pacedResult{}, err
	}
	r.p50, r.p99 = time.Duration(q[0]*float64(time.Microsecond)), time.Duration(q[1]*float64(time.Microsecond))
	return r, nil
}

// pacedConn is one connection of a paced load and what was measured on it. It
// writes the request bytes itself and reads the answer with http.ReadResponse:
// the load generator's cost per request stays small and the same for every
// target.
type pacedConn struct {
	addr    string
	req     []byte
	timeout time.Duration
	sketch  *ddsketch.DDSketch // latencies in microseconds

	conn    net.Conn
	br      *bufio.Reader
	ok      int64
	errors  int64
	lastErr error
}

func (p *pacedConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: p.timeout}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return err
	}
	p.conn, p.br = c, bufio.NewReaderSize(c, 4096)
	return nil
}

func (p *pacedConn) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// do sends one request that was due at due and records its latency from then.
// After a failure the connection is replaced, as wrk does.
func (p *pacedConn) do(ctx context.Context, due time.Time) {
	err := p.roundTrip(ctx)
	if err != nil {
		p.errors++
		p.lastErr = err
		p.close()
		return
	}
	p.ok++
	p.sketch.Add(float64(time.Since(due)) / float64(time.Microsecond))
}

var errStatus = errors.New("status not 200")

func (p *pacedConn) roundTrip(ctx context.Context) error {
	if p.conn == nil {
		if err := p.dial(ctx); err != nil {
			return err
		}
	}
	p.conn.SetDeadline(time.Now().Add(p.timeout))
	if _, err := p.conn.Write(p.req); err != nil {
		return err
	}
	res, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %d", errStatus, res.StatusCode)
	}
	if res.Close {
		p.close()
	}
	return nil
}
