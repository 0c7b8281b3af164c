package router

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"
)

// bufferBody reads the request body, up to limit bytes, so it can be sent twice:
// to the live release and to the candidate. It replaces r.Body with a reader that
// gives the proxy the same bytes. When the body is longer than limit, or reading
// it fails, it returns false and r.Body still yields the whole body, read part
// first, so the live request streams as it would without a mirror.
func bufferBody(r *http.Request, limit int64) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	if r.ContentLength > limit {
		return nil, false
	}
	var data []byte
	var err error
	if r.ContentLength > 0 {
		data = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(r.Body, data)
		data = data[:n]
	} else {
		// Chunked: read one byte past the limit to learn whether it is exceeded.
		data, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil || int64(len(data)) > limit {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		return nil, false
	}
	r.Body = readCloser{bytes.NewReader(data), r.Body}
	return data, true
}

// readCloser reads from one place and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// liveCapture records the live release's answer to a mirrored request. The
// request's goroutine writes it; the mirror worker reads it only after done is
// closed, which orders the two.
type liveCapture struct {
	limit   int64
	done    chan struct{}
	release int
	resp    CapturedResponse
}

func newLiveCapture(limit int64) *liveCapture {
	return &liveCapture{limit: limit, done: make(chan struct{})}
}

// begin records the status and headers and tees the body as the proxy copies it
// to the client, so capturing adds no wait.
func (c *liveCapture) begin(res *http.Response) {
	c.resp.Status = res.StatusCode
	c.resp.Header = res.Header.Clone()
	if res.Body != nil && res.Body != http.NoBody {
		res.Body = &teeBody{ReadCloser: res.Body, capture: c}
	}
}

func (c *liveCapture) write(p []byte) {
	room := c.limit - int64(len(c.resp.Body))
	if int64(len(p)) > room {
		p = p[:room]
		c.resp.Truncated = true
	}
	if len(p) > 0 {
		c.resp.Body = append(c.resp.Body, p...)
	}
}

// finish completes the capture when the live response has ended, however it
// ended, and lets the worker waiting for it go on.
func (c *liveCapture) finish(a *attempt, latency time.Duration, broke bool) {
	c.release = a.backend.release
	c.resp.Latency = latency
	switch {
	case broke:
		c.resp.Err = "live response broke off"
	case a.proxyErr != nil:
		c.resp.Status = a.status
		c.resp.Err = "live release not answering: " + a.proxyErr.Error()
	case a.status == 499:
		c.resp.Status = a.status
		c.resp.Err = "client went away"
	}
	close(c.done)
}

// wait waits until the live response has ended or the deadline passes, and
// reports whether it ended.
func (c *liveCapture) wait(deadline time.Time) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// teeBody copies what the proxy reads from the live response into the capture.
type teeBody struct {
	io.ReadCloser
	capture *liveCapture
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.capture.write(p[:n])
	return n, err
}

// hopByHop are the headers that concern one connection, not the message; a proxy
// does not pass them on (RFC 9110, section 7.6.1).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// withoutHopByHop returns a copy of h without the hop-by-hop headers, including
// those the Connection header names.
func withoutHopByHop(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		return http.Header{}
	}
	for _, v := range out["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		out.Del(name)
	}
	return out
}
