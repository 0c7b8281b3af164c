package router

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMirrorExchange sends requests of several shapes through a mirrored route:
// the user gets the live answer, the candidate gets the same request marked as a
// copy, the live release never sees the mark, and the sink gets both answers.
func TestMirrorExchange(t *testing.T) {
	live, liveAddr := startRecording(t, "live")
	cand, candAddr := startRecording(t, "cand")
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, candAddr, 100, 0), 16, 2, 5*time.Second)
	exchanges := collectExchanges(rt)
	c := newClient(t)

	tests := []struct {
		name, method, path, body string
		chunked, spoofMark       bool
	}{
		{name: "get with query", method: "GET", path: "/cart?id=3&x=%2F"},
		{name: "post json", method: "POST", path: "/orders", body: `{"sku":"A-1","qty":2,"note":"ünïcode"}`},
		{name: "chunked put", method: "PUT", path: "/items/7", body: "streamed body", chunked: true},
		{name: "client sends the mirror mark", method: "DELETE", path: "/items/8", spoofMark: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, body)
			req.Host = "shop.localhost"
			req.Header.Set("X-Request", tt.name)
			if tt.spoofMark {
				req.Header.Set(MirrorHeader, "1")
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := fmt.Sprintf("live %s %s %s", tt.method, tt.path, tt.body)
			if res.StatusCode != 200 || string(got) != want || res.Header.Get("Prosper-Release") != "v1" {
				t.Fatalf("user got %d %q from %q, want 200 %q from v1", res.StatusCode, got, res.Header.Get("Prosper-Release"), want)
			}
			eventually(t, "the exchange", func() bool { return len(exchanges()) == i+1 })
			ex := exchanges()[i]
			if ex.App != "shop" || ex.LiveRelease != 1 || ex.CandidateRelease != 2 || ex.Time.IsZero() {
				t.Errorf("exchange names app %q live v%d candidate v%d at %v", ex.App, ex.LiveRelease, ex.CandidateRelease, ex.Time)
			}
			r := ex.Request
			if r.Method != tt.method || r.Path != tt.path || string(r.Body) != tt.body || r.Header.Get("X-Request") != tt.name {
				t.Errorf("captured request %s %s %q (X-Request %q)", r.Method, r.Path, r.Body, r.Header.Get("X-Request"))
			}
			if r.Header.Get(MirrorHeader) != "" || r.Header.Get("Connection") != "" {
				t.Errorf("captured request headers %v: want no mirror mark nor hop-by-hop headers", r.Header)
			}
			if string(ex.Live.Body) != want || ex.Live.Status != 200 || ex.Live.Err != "" || ex.Live.Truncated || ex.Live.Latency <= 0 {
				t.Errorf("live capture %+v, want 200 %q", ex.Live, want)
			}
			if ex.Live.Header.Get("X-Answered-By") != "live" || ex.Live.Header.Get("Prosper-Release") != "" {
				t.Errorf("live headers %v: want the app's own headers only", ex.Live.Header)
			}
			wantCand := fmt.Sprintf("cand %s %s %s", tt.method, tt.path, tt.body)
			if string(ex.Candidate.Body) != wantCand || ex.Candidate.Status != 200 || ex.Candidate.Err != "" || ex.Candidate.Latency <= 0 {
				t.Errorf("candidate capture %+v, want 200 %q", ex.Candidate, wantCand)
			}
		})
	}

	for _, s := range live.requests() {
		if s.mirror != "" {
			t.Errorf("live release got %s %s with %s: %q", s.method, s.uri, MirrorHeader, s.mirror)
		}
	}
	liveGot, candGot := live.requests(), cand.requests()
	for i := range candGot {
		candGot[i].mirror, liveGot[i].mirror = "", "" // compared above
		if candGot[i] != liveGot[i] {
			t.Errorf("candidate got %+v, live got %+v; want the same request", candGot[i], liveGot[i])
		}
	}
	for _, s := range cand.requests() {
		if s.mirror != "1" {
			t.Errorf("candidate got %s %s with %s %q, want \"1\"", s.method, s.uri, MirrorHeader, s.mirror)
		}
	}
	if m := mirrorReading(rt, "shop", 2); m.Mirrored != int64(len(tests)) || m.settled() != m.Mirrored || m.P50 <= 0 {
		t.Errorf("mirror metrics %+v, want %d mirrored with latencies", m, len(tests))
	}
	// The candidate's answers are no live traffic.
	for _, m := range rt.Metrics() {
		if m.Release == 2 || (m.Release == 1 && m.Requests != int64(len(tests))) {
			t.Errorf("release metrics %+v: want only the %d live answers of v1", m, len(tests))
		}
	}
}

func TestMirrorPercent(t *testing.T) {
	const requests = 200
	tests := []struct {
		percent float64
		want    int64
	}{{0, 0}, {12.5, 25}, {50, 100}, {99, 198}, {100, 200}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.percent), func(t *testing.T) {
			_, liveAddr := startRecording(t, "live")
			cand, candAddr := startRecording(t, "cand")
			rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, candAddr, tt.percent, 0), 1024, 4, 5*time.Second)
			c := newClient(t)
			for range requests {
				mustGet(t, c, srv.URL, "shop.localhost")
			}
			eventually(t, "copies settled", func() bool { return mirrorReading(rt, "shop", 2).settled() == tt.want })
			if m := mirrorReading(rt, "shop", 2); m.Mirrored != tt.want || cand.n.Load() != tt.want {
				t.Errorf("%v%%: %d mirrored, candidate got %d; want %d", tt.percent, m.Mirrored, cand.n.Load(), tt.want)
			}
		})
	}
}

// TestMirrorFailingCandidate has the candidate misbehave in every way: the users'
// answers and their latency must not change.
func TestMirrorFailingCandidate(t *testing.T) {
	const mirrorTimeout = time.Second
	tests := []struct {
		name      string
		candidate http.HandlerFunc
		wantErr   bool // the exchanges carry a candidate error
		wantCode  int  // else the candidate's status
	}{
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice the router hanging up.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, true, 0},
		{"crashes", func(w http.ResponseWriter, r *http.Request) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		}, true, 0},
		{"answers 500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, false, 500},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(100 * time.Millisecond) // the candidate's own slowness
			io.WriteString(w, "late")
		}, false, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, liveAddr := startRecording(t, "live")
			cand := startBackend(t, "cand", tt.candidate)
			rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, addrOf(cand), 100, 0), 2, 2, mirrorTimeout)
			exchanges := collectExchanges(rt)
			c := newClient(t)
			const requests = 30
			var slowest time.Duration
			for i := range requests {
				start := time.Now()
				a, err := send(t, c, http.MethodPost, srv.URL+"/pay", "shop.localhost", fmt.Sprint(i))
				slowest = max(slowest, time.Since(start))
				if want := fmt.Sprintf("live POST /pay %d", i); err != nil || a.status != 200 || a.body != want {
					t.Fatalf("request %d: %d %q, %v; want 200 %q", i, a.status, a.body, err, want)
				}
			}
			// Had a request waited for the candidate, it would have taken the
			// mirror timeout (hangs) or 100 ms per copy (slow).
			if slowest >= mirrorTimeout/2 {
				t.Errorf("slowest user request took %v: it waited for the candidate", slowest)
			}
			eventually(t, "copies settled", func() bool { return mirrorReading(rt, "shop", 2).settled() == requests })
			m := mirrorReading(rt, "shop", 2)
			if tt.wantErr && m.Errors == 0 || !tt.wantErr && m.Mirrored == 0 {
				t.Errorf("mirror metrics %+v", m)
			}
			if tt.wantCode == 500 && m.Status5xx != m.Mirrored {
				t.Errorf("mirror metrics %+v: want every answer counted as a 5xx", m)
			}
			eventually(t, "the exchanges", func() bool { return int64(len(exchanges())) == m.Mirrored+m.Errors })
			for _, ex := range exchanges() {
				if ex.Live.Status != 200 || !strings.HasPrefix(string(ex.Live.Body), "live POST /pay ") {
					t.Errorf("live capture %+v", ex.Live)
				}
				if (ex.Candidate.Err != "") != tt.wantErr || ex.Candidate.Status != tt.wantCode {
					t.Errorf("candidate capture %+v, want status %d and error %v", ex.Candidate, tt.wantCode, tt.wantErr)
				}
			}
			if live := rt.Metrics()[0]; live.Release != 1 || live.Status2xx != requests || live.ProxyErrors != 0 {
				t.Errorf("live metrics %+v", live)
			}
		})
	}
}

func TestMirrorBodyLimits(t *testing.T) {
	const limit = 16
	big := strings.Repeat("x", 40)
	liveBackend := startBackend(t, "live", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Has("big") {
			io.WriteString(w, big)
			return
		}
		fmt.Fprintf(w, "live got %d bytes %q", len(b), b)
	})
	cand := startBackend(t, "cand", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big+"!") })
	rt, srv := startMirrorRouter(t, mirrorTable(addrOf(liveBackend), addrOf(cand), 100, limit), 16, 1, 5*time.Second)
	exchanges := collectExchanges(rt)
	c := newClient(t)

	tests := []struct {
		name     string
		body     string
		chunked  bool
		path     string
		mirrored bool
	}{
		{"body at the limit", strings.Repeat("a", limit), false, "/", true},
		{"body over the limit", strings.Repeat("b", limit+1), false, "/", false},
		{"chunked body at the limit", strings.Repeat("c", limit), true, "/", true},
		{"chunked body over the limit", strings.Repeat("d", 3*limit), true, "/", false},
		{"live answer over the limit", "", false, "/?big", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mirrorReading(rt, "shop", 2)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, body)
			req.Host = "shop.localhost"
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := fmt.Sprintf("live got %d bytes %q", len(tt.body), tt.body)
			if tt.path != "/" {
				want = big
			}
			if string(got) != want {
				t.Fatalf("user got %q, want %q", got, want)
			}
			eventually(t, "the copy settled", func() bool { return mirrorReading(rt, "shop", 2).settled() == before.settled()+1 })
			after := mirrorReading(rt, "shop", 2)
			if tt.mirrored != (after.Mirrored == before.Mirrored+1) || !tt.mirrored && after.Skipped != before.Skipped+1 {
				t.Fatalf("metrics went from %+v to %+v; want mirrored %v", before, after, tt.mirrored)
			}
			if !tt.mirrored {
				return
			}
			eventually(t, "the exchange", func() bool { return int(after.Mirrored) == len(exchanges()) })
			ex := exchanges()[after.Mirrored-1]
			if string(ex.Request.Body) != tt.body {
				t.Errorf("captured request body %q, want %q", ex.Request.Body, tt.body)
			}
			if !ex.Candidate.Truncated || string(ex.Candidate.Body) != big[:limit] {
				t.Errorf("candidate capture %q truncated %v, want the first %d bytes, truncated", ex.Candidate.Body, ex.Candidate.Truncated, limit)
			}
			wantLive := want[:min(limit, len(want))]
			if ex.Live.Truncated != (len(want) > limit) || string(ex.Live.Body) != wantLive {
				t.Errorf("live capture %q truncated %v, want %q", ex.Live.Body, ex.Live.Truncated, wantLive)
			}
		})
	}
}

// TestMirrorOff checks that a route without a mirror, and a protocol upgrade on a
// route with one, send nothing to the candidate. The router has one worker, so
// the copies run in order: once the last request's exchange arrives, any copy of
// an earlier one would have arrived before it.
func TestMirrorOff(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	cand, candAddr := startRecording(t, "cand")
	table := mirrorTable(liveAddr, candAddr, 100, 0)
	table.Routes = append(table.Routes, Route{App: "blog", Hosts: []string{"blog.localhost"},
		Backends: []Backend{{Release: 5, Addrs: []string{liveAddr}, Weight: 1}}})
	rt, srv := startMirrorRouter(t, table, 16, 1, 5*time.Second)
	exchanges := collectExchanges(rt)
	c := newClient(t)

	for range 20 {
		if a := mustGet(t, c, srv.URL+"/unmirrored", "blog.localhost"); a.status != 200 || a.release != "v5" {
			t.Fatalf("blog answer %+v", a)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ws", nil)
	req.Host = "shop.localhost"
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	if res, err := c.Do(req); err == nil {
		res.Body.Close() // the recording backend does not upgrade; only the copy matters
	}
	mustGet(t, c, srv.URL+"/last", "shop.localhost")
	eventually(t, "the last exchange", func() bool { return len(exchanges()) > 0 })

	if got := exchanges(); len(got) != 1 || got[0].Request.Path != "/last" {
		t.Errorf("exchanges %+v, want only /last", got)
	}
	if got := cand.requests(); len(got) != 1 || got[0].uri != "/last" {
		t.Errorf("candidate got %+v, want only /last", got)
	}
	if got := rt.MirrorMetrics(); len(got) != 1 || got[0].App != "shop" {
		t.Errorf("MirrorMetrics() = %+v, want the shop candidate only", got)
	}
}

// TestMirrorNoSink mirrors without a sink: the copies are sent and counted, and
// nothing waits for pairs nobody wants.
func TestMirrorNoSink(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	cand, candAddr := startRecording(t, "cand")
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, candAddr, 100, 0), 16, 1, 5*time.Second)
	c := newClient(t)
	for range 10 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	eventually(t, "10 copies", func() bool { return mirrorReading(rt, "shop", 2).Mirrored == 10 })
	if cand.n.Load() != 10 {
		t.Errorf("candidate got %d copies, want 10", cand.n.Load())
	}
	// A sink that panics loses its exchange, not the router.
	rt.SetMirrorSink(func(Exchange) { panic("sink bug") })
	mustGet(t, c, srv.URL, "shop.localhost")
	eventually(t, "the 11th copy", func() bool { return mirrorReading(rt, "shop", 2).Mirrored == 11 })
	rt.SetMirrorSink(nil)
	if a := mustGet(t, c, srv.URL, "shop.localhost"); a.status != 200 {
		t.Errorf("after a panicking sink: %+v", a)
	}
	eventually(t, "the 12th copy", func() bool { return mirrorReading(rt, "shop", 2).Mirrored == 12 })
}

func TestMirrorMetricsJSONAndPrometheus(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	_, candAddr := startRecording(t, "cand")
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, candAddr, 100, 4), 16, 1, 5*time.Second)
	c := newClient(t)
	mustGet(t, c, srv.URL, "shop.localhost")
	if a, err := send(t, c, http.MethodPost, srv.URL, "shop.localhost", "too long"); err != nil || a.status != 200 {
		t.Fatalf("POST: %+v, %v", a, err)
	}
	eventually(t, "copies settled", func() bool { return mirrorReading(rt, "shop", 2).settled() == 2 })

	var out strings.Builder
	if err := rt.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE prosper_router_mirror_requests_total counter\n",
		`prosper_router_mirror_requests_total{app="shop",release="2",result="sent"} 1` + "\n",
		`prosper_router_mirror_requests_total{app="shop",release="2",result="skipped"} 1` + "\n",
		`prosper_router_mirror_requests_total{app="shop",release="2",result="dropped"} 0` + "\n",
		`prosper_router_mirror_requests_total{app="shop",release="2",result="error"} 0` + "\n",
		"# TYPE prosper_router_mirror_duration_seconds summary\n",
		`prosper_router_mirror_duration_seconds{app="shop",release="2",quantile="0.99"} `,
		`prosper_router_mirror_duration_seconds_count{app="shop",release="2"} 1` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Prometheus output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), `requests_total{app="shop",release="2",code_class`) {
		t.Errorf("the candidate appears in the live request counts:\n%s", out.String())
	}

	m := MirrorMetrics{App: "shop", Release: 2, Mirrored: 1, Status5xx: 2, Errors: 3, Dropped: 4, Skipped: 5, P50: 1.5, P90: 2, P99: 3}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"app":"shop","release":2,"mirrored":1,"status_5xx":2,"errors":3,"dropped":4,"skipped":5,"p50":1.5,"p90":2,"p99":3}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
}

// TestMirrorTableRoundTrip checks that the table keeps the policy through
// SetTable and Table, as a deep copy.
func TestMirrorTableRoundTrip(t *testing.T) {
	table := mirrorTable("127.0.0.1:1", "127.0.0.1:2", 50, 0)
	rt := New(nil)
	if err := rt.SetTable(table); err != nil {
		t.Fatal(err)
	}
	table.Routes[0].Mirror.Addrs[0] = "10.0.0.1:9"
	got := rt.Table().Routes[0].Mirror
	if got == nil || got.Release != 2 || got.Percent != 50 || !slices.Equal(got.Addrs, []string{"127.0.0.1:2"}) {
		t.Errorf("Table().Routes[0].Mirror = %+v, want the policy as set, unaffected by the caller's later change", got)
	}
}

// TestMirrorBotRequestsAlways: a bot journey's requests are copied whatever the
// share, since the journey is judged on the candidate's answers too.
func TestMirrorBotRequestsAlways(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	cand, candAddr := startRecording(t, "cand")
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, candAddr, 0.0001, 0), 1024, 4, 5*time.Second)
	c := newClient(t)
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		req.Host = "shop.localhost"
		if i%2 == 0 {
			req.Header.Set(BotStepHeader, fmt.Sprintf("run%d.0", i))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	eventually(t, "bot copies settled", func() bool { return mirrorReading(rt, "shop", 2).settled() == 5 })
	if got := cand.n.Load(); got != 5 {
		t.Errorf("candidate got %d copies, want the 5 bot requests", got)
	}
}

// TestMirrorKeepsConnectionOrder: the copies of one client connection reach the
// candidate in the order the client sent them, however slow the candidate is on
// some of them, so a write followed by a read of it stays a write then a read.
func TestMirrorKeepsConnectionOrder(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	var mu sync.Mutex
	var order []string
	cand := startBackend(t, "cand", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			time.Sleep(30 * time.Millisecond) // the write is slow on the candidate
		}
		mu.Lock()
		order = append(order, r.Method+" "+r.URL.Path)
		mu.Unlock()
	})
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, addrOf(cand), 100, 0), 1024, 16, 5*time.Second)
	var exchanges atomic.Int64
	rt.SetMirrorSink(func(ex Exchange) {
		if ex.Client == "" {
			t.Errorf("exchange without the client address")
		}
		exchanges.Add(1)
	})
	c := newClient(t) // one keep-alive connection
	const pairs = 20
	for i := range pairs {
		send(t, c, http.MethodPost, srv.URL+fmt.Sprintf("/notes/%d", i), "shop.localhost", "x")
		mustGet(t, c, srv.URL+fmt.Sprintf("/notes/%d", i), "shop.localhost")
	}
	eventually(t, "copies delivered", func() bool { return exchanges.Load() == 2*pairs })
	mu.Lock()
	defer mu.Unlock()
	for i := range pairs {
		if order[2*i] != fmt.Sprintf("POST /notes/%d", i) || order[2*i+1] != fmt.Sprintf("GET /notes/%d", i) {
			t.Fatalf("the candidate got the copies out of order: %v", order)
		}
	}
}

// TestMirrorWritesWaitForEarlierReads: a list one client read before another
// client's write must not reach the candidate after that write's copy, even
// when the candidate is slow to answer the read; reads after the write wait
// for it.
func TestMirrorWritesWaitForEarlierReads(t *testing.T) {
	_, liveAddr := startRecording(t, "live")
	var mu sync.Mutex
	var events []string
	cand := startBackend(t, "cand", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		events = append(events, "start "+r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/list" {
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		events = append(events, "end "+r.Method+" "+r.URL.Path)
		mu.Unlock()
	})
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, addrOf(cand), 100, 0), 1024, 16, 5*time.Second)
	var exchanges atomic.Int64
	rt.SetMirrorSink(func(Exchange) { exchanges.Add(1) })
	reader, writer, later := newClient(t), newClient(t), newClient(t) // three connections
	mustGet(t, reader, srv.URL+"/list", "shop.localhost")
	if _, err := send(t, writer, http.MethodPost, srv.URL+"/items", "shop.localhost", "x"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, later, srv.URL+"/after", "shop.localhost")
	eventually(t, "copies delivered", func() bool { return exchanges.Load() == 3 })
	mu.Lock()
	defer mu.Unlock()
	want := []string{"start GET /list", "end GET /list", "start POST /items", "end POST /items", "start GET /after", "end GET /after"}
	if !slices.Equal(events, want) {
		t.Fatalf("the candidate saw %q; want %q", events, want)
	}
}

func TestCopyOrderGrants(t *testing.T) {
	var o copyOrder
	r1, r2 := o.take(false), o.take(false)
	w := o.take(true)
	r3 := o.take(false)
	isReady := func(tk *copyTicket) bool {
		select {
		case <-tk.ready:
			return true
		default:
			return false
		}
	}
	if !isReady(r1) || !isReady(r2) || isReady(w) || isReady(r3) {
		t.Fatal("reads before a write go together; the write and what follows wait")
	}
	o.done(r2)
	if isReady(w) {
		t.Fatal("the write went before an earlier read was answered")
	}
	o.done(r1)
	if !isReady(w) || isReady(r3) {
		t.Fatal("the write is next, alone")
	}
	o.done(w)
	if !isReady(r3) {
		t.Fatal("the read after the write waits no more")
	}
	o.done(r3)
	if !o.idle() {
		t.Fatal("tickets left behind")
	}
}
