package router

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startBackend starts a real HTTP server on loopback. With a nil handler it
// answers 200 with its name as the body.
func startBackend(t testing.TB, name string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// addrOf returns the host:port of a test server.
func addrOf(s *httptest.Server) string {
	return strings.TrimPrefix(s.URL, "http://")
}

// refusedAddr returns a loopback address where nothing listens, so connecting to
// it is refused at once.
func refusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startRouter serves a router with the given table on a real loopback port.
func startRouter(t testing.TB, table Table) (*Router, *httptest.Server) {
	t.Helper()
	rt := New(nil)
	if err := rt.SetTable(table); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(rt)
	t.Cleanup(func() {
		s.Close()
		rt.CloseIdleConnections()
	})
	return rt, s
}

// newClient returns a client that keeps enough idle connections for the
// concurrent tests and never follows redirects, so 3xx answers are seen as such.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type answer struct {
	status  int
	body    string
	release string // the Prosper-Release header
	header  http.Header
}

// send makes one request through the router with the given Host header.
func send(t testing.TB, c *http.Client, method, url, host, body string) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: res.StatusCode, body: string(b), release: res.Header.Get("Prosper-Release"), header: res.Header}, nil
}

// mustGet is send for tests that cannot go on without the answer.
func mustGet(t testing.TB, c *http.Client, url, host string) answer {
	t.Helper()
	a, err := send(t, c, http.MethodGet, url, host, "")
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	return a
}

// eventually polls cond until it holds or a deadline passes. Metrics are recorded
// when the handler returns, which can be just after the client read the response.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// oneRelease is the table of one app with one release.
func oneRelease(app string, release int, addrs ...string) Table {
	return Table{Routes: []Route{{
		App:      app,
		Hosts:    []string{app + ".localhost"},
		Backends: []Backend{{Release: release, Addrs: addrs, Weight: 1}},
	}}}
}
