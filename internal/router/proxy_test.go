package router

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryOnRefusedConnection(t *testing.T) {
	echo := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, name+":"+r.Method+":"+string(b))
		}
	}
	good := addrOf(startBackend(t, "good", echo("good")))
	other := addrOf(startBackend(t, "other", echo("other")))
	dead := refusedAddr(t)

	tests := []struct {
		name      string
		backends  []Backend
		wantBody  string // of a POST with body "hello"
		wantRel   string
		wantErrOn int // release whose ProxyErrors must grow
	}{
		{
			name:      "another replica of the same release",
			backends:  []Backend{{Release: 1, Addrs: []string{dead, good}, Weight: 1}},
			wantBody:  "good:POST:hello",
			wantRel:   "v1",
			wantErrOn: 1,
		},
		{
			name: "another release when the only replica is down",
			backends: []Backend{
				{Release: 1, Addrs: []string{other}, Weight: 1},
				{Release: 2, Addrs: []string{dead}, Weight: 1},
			},
			wantBody:  "other:POST:hello",
			wantRel:   "v1",
			wantErrOn: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, srv := startRouter(t, Table{Routes: []Route{{App: "shop", Hosts: []string{"shop.localhost"}, Backends: tt.backends}}})
			c := newClient(t)
			// Ten requests are sure to hit the dead address several times,
			// whichever way the split and the round-robin start.
			for range 10 {
				a, err := send(t, c, http.MethodPost, srv.URL, "shop.localhost", "hello")
				if err != nil {
					t.Fatal(err)
				}
				if a.status != http.StatusOK || a.body != tt.wantBody || a.release != tt.wantRel {
					t.Fatalf("answer: %d %q from %q, want 200 %q from %s", a.status, a.body, a.release, tt.wantBody, tt.wantRel)
				}
			}
			eventually(t, "10 requests recorded", func() bool { return totalRequests(rt) == 10 })
			for _, m := range rt.Metrics() {
				if m.Release == tt.wantErrOn && m.ProxyErrors < 3 {
					t.Errorf("v%d: %d proxy errors, want the refused connections counted", m.Release, m.ProxyErrors)
				}
				if m.Release == tt.wantErrOn && m.Release != 1 && m.Requests != 0 {
					t.Errorf("v%d answered %d requests, want 0: it is down", m.Release, m.Requests)
				}
				if m.InFlight != 0 {
					t.Errorf("v%d: %d in flight after all answers", m.Release, m.InFlight)
				}
			}
		})
	}

	t.Run("every address down", func(t *testing.T) {
		_, srv := startRouter(t, Table{Routes: []Route{{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []Backend{
			{Release: 3, Addrs: []string{dead, refusedAddr(t)}, Weight: 1},
			{Release: 4, Addrs: []string{refusedAddr(t)}, Weight: 1},
		}}}})
		a := mustGet(t, newClient(t), srv.URL, "shop.localhost")
		if a.status != http.StatusBadGateway {
			t.Fatalf("status = %d, want 502 (%q)", a.status, a.body)
		}
	})
}

func totalRequests(rt *Router) int64 {
	var n int64
	for _, m := range rt.Metrics() {
		n += m.Requests
	}
	return n
}

// TestUpgrade passes a protocol upgrade (as websockets use) through the router and
// checks that it counts as a request but not as a latency.
func TestUpgrade(t *testing.T) {
	echo := startBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	})
	rt, srv := startRouter(t, oneRelease("chat", 1, addrOf(echo)))

	conn, err := net.DialTimeout("tcp", addrOf(srv), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: chat.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Prosper-Release") != "v1" {
		t.Fatalf("answer %d from %q, want 101 from v1", res.StatusCode, res.Header.Get("Prosper-Release"))
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo = %q, %v; want \"ping\\n\"", line, err)
	}
	if n := rt.InFlight("chat", 1); n != 1 {
		t.Errorf("InFlight during the upgraded connection = %d, want 1", n)
	}
	conn.Close()

	eventually(t, "the upgrade recorded", func() bool { return totalRequests(rt) == 1 })
	if m := rt.Metrics()[0]; m.InFlight != 0 || m.Status2xx+m.Status5xx != 0 || m.P50 != 0 {
		t.Errorf("metrics after the upgrade: %+v; want one request, no status class, no latency", m)
	}
	var out strings.Builder
	rt.WritePrometheus(&out)
	if want := `prosper_router_requests_total{app="chat",release="1",code_class="1xx"} 1`; !strings.Contains(out.String(), want) {
		t.Errorf("Prometheus output lacks %q", want)
	}
}

// TestBrokenResponse has the app die halfway through a response: the client sees
// the response cut off, and the router counts a proxy error and nothing in flight.
func TestBrokenResponse(t *testing.T) {
	broken := startBackend(t, "broken", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
		brw.Flush()
		conn.Close()
	})
	rt, srv := startRouter(t, oneRelease("shop", 1, addrOf(broken)))

	if a, err := send(t, newClient(t), http.MethodGet, srv.URL, "shop.localhost", ""); err == nil {
		t.Fatalf("got a whole answer %d %q, want the response cut off", a.status, a.body)
	}
	eventually(t, "the broken response recorded", func() bool { return totalRequests(rt) == 1 })
	if m := rt.Metrics()[0]; m.ProxyErrors != 1 || m.InFlight != 0 {
		t.Errorf("metrics: %+v; want 1 proxy error and nothing in flight", m)
	}
}
