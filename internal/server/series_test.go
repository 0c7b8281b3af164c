package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/series"
	"github.com/prosperhq/prosper/internal/store"
)

// startSeriesServer is startServer with a one-second metrics step, so a test
// sees several steps in seconds.
func startSeriesServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.NewClient(dir).Shutdown(ctx)
	})
	s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Exe: prosperBin,
		Version: "test-1", HealthTimeout: 20 * time.Second, SeriesEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.StopAll(ctx); err != nil {
			t.Errorf("stop all: %v", err)
		}
	})
	tok, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: s, t: t, dataDir: dir, token: strings.TrimSpace(string(tok))}
}

// seriesOf returns the last value of each metric of release rel, and every
// series' length.
func seriesOf(t *testing.T, ts *testServer, query string, rel int) (last map[string]float64, res series.Result) {
	t.Helper()
	decode(t, ts.must(http.MethodGet, "/api/apps/shop/series"+query, nil, http.StatusOK), &res)
	last = map[string]float64{}
	for _, s := range res.Series {
		if s.Release == rel && len(s.Points) > 0 {
			last[s.Metric] = s.Points[len(s.Points)-1][1]
		}
	}
	return last, res
}

func TestSeriesOfARealApp(t *testing.T) {
	ts := startSeriesServer(t)
	ts.createApp("shop")
	ts.deployScriptApp("shop")

	// Real HTTP through the router to the app's python process, until the test
	// has what it waits for.
	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	var sent atomic.Int64
	go func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.RouterURL()+"/", nil)
			req.Host = "shop.localhost"
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				sent.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	var last map[string]float64
	var res series.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Bot runs are written in batches by the bots; write one per poll so one
		// lands in a step the collector has not read yet.
		err := ts.store.RecordBotRuns(context.Background(), []store.BotRun{
			{App: "shop", Release: 1, Target: store.TargetLive, Scenario: "browse", Passed: true, Started: time.Now()},
		})
		if err != nil {
			t.Fatal(err)
		}
		last, res = seriesOf(t, ts, "?since=10m", 1)
		if last[series.RPS] > 0 && last[series.Memory] > 0 && last[series.BotsOK] > 0 {
			if _, ok := last[series.CPU]; ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d requests the series lack rps, mem_bytes, cpu_pct or bots_ok: %+v", sent.Load(), last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res.App != "shop" || res.Since != "10m" || res.StepSeconds != 10 {
		t.Errorf("answer header = %+v", res)
	}
	if er, ok := last[series.ErrorRate]; !ok || er != 0 {
		t.Errorf("error_rate = %v (present %v), want 0: the app answers 200", er, ok)
	}
	if last[series.P50] <= 0 || last[series.P95] < last[series.P50] || last[series.P99] < last[series.P95] {
		t.Errorf("p50 %v, p95 %v, p99 %v: want all three, ordered", last[series.P50], last[series.P95], last[series.P99])
	}
	if r, ok := last[series.Restarts]; !ok || r != 0 {
		t.Errorf("restarts = %v (present %v), want 0", r, ok)
	}
	if last[series.Memory] < 1<<20 {
		t.Errorf("mem_bytes = %v, want at least the python interpreter's MiB", last[series.Memory])
	}
	for _, s := range res.Series {
		if len(s.Points) > series.MaxPoints {
			t.Errorf("%s: %d points", s.Metric, len(s.Points))
		}
	}

	// Other releases and a year: the same contract, within bounds.
	if _, other := seriesOf(t, ts, "?since=365d&release=7", 7); len(other.Series) != 0 {
		t.Errorf("release 7 has series: %+v", other.Series)
	}
	if _, year := seriesOf(t, ts, "?since=365d", 1); year.StepSeconds < 3600 || len(year.Series) == 0 {
		t.Errorf("a year: step %d, %d series", year.StepSeconds, len(year.Series))
	}

	// /metrics: the router's families and the processes', all well formed.
	r := ts.must(http.MethodGet, "/metrics", nil, http.StatusOK)
	samples := parsePromText(t, string(r.body))
	for _, name := range []string{
		`prosper_process_resident_memory_bytes{app="shop",release="1"}`,
		`prosper_process_cpu_seconds_total{app="shop",release="1"}`,
		`prosper_process_restarts_total{app="shop",release="1"}`,
		`prosper_router_requests_total{app="shop",release="1",code_class="2xx"}`,
	} {
		if _, ok := samples[name]; !ok {
			t.Errorf("/metrics lacks %s:\n%s", name, r.body)
		}
	}
	if v := samples[`prosper_process_resident_memory_bytes{app="shop",release="1"}`]; v < 1<<20 {
		t.Errorf("resident memory = %v", v)
	}
}

func TestSeriesRequestErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	tests := []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/apps/shop/series?since=yesterday", 400, `since "yesterday"`},
		{"/api/apps/shop/series?since=-1h", 400, "must be positive"},
		{"/api/apps/shop/series?since=1000d", 400, "kept 730d at most"},
		{"/api/apps/shop/series?release=x", 400, `release "x"`},
		{"/api/apps/shop/series?release=0", 400, `release "0"`},
		{"/api/apps/nope/series", 404, `unknown app "nope"`},
	}
	for _, tt := range tests {
		r := ts.call(http.MethodGet, tt.path, ts.token, nil)
		if r.status != tt.status {
			t.Errorf("%s = %d, want %d: %s", tt.path, r.status, tt.status, r.body)
			continue
		}
		if msg, hint := r.apiError(t); !strings.Contains(msg, tt.msg) || hint == "" {
			t.Errorf("%s: error %q (hint %q), want it to name %s and give a hint", tt.path, msg, hint, tt.msg)
		}
	}
	if r := ts.call(http.MethodGet, "/api/apps/shop/series", "", nil); r.status != 401 {
		t.Errorf("series without a token = %d, want 401", r.status)
	}
	// An app with no history yet answers an empty list, not null.
	r := ts.must(http.MethodGet, "/api/apps/shop/series", nil, 200)
	if !strings.Contains(string(r.body), `"series":[]`) || !strings.Contains(string(r.body), `"since":"24h"`) {
		t.Errorf("empty history = %s", r.body)
	}
}

func TestProcessMetricsEscapeAndParse(t *testing.T) {
	var b strings.Builder
	writeProcessMetrics(&b, []node.ProcStats{
		{App: "shop", Release: 2, CPUSeconds: 1.5, RSSBytes: 1000, Restarts: 1},
		{App: "shop", Release: 2, CPUSeconds: 0.5, RSSBytes: 24, Restarts: 2}, // the control instance
		{App: "a\"b\\c\nd", Release: 1, CPUSeconds: 0, RSSBytes: 0},
	})
	got := parsePromText(t, b.String())
	want := map[string]float64{
		`prosper_process_cpu_seconds_total{app="shop",release="2"}`:     2,
		`prosper_process_resident_memory_bytes{app="shop",release="2"}`: 1024,
		`prosper_process_restarts_total{app="shop",release="2"}`:        3,
		`prosper_process_restarts_total{app="a\"b\\c\nd",release="1"}`:  0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v\n%s", k, g, ok, v, b.String())
		}
	}
}

// slowApp answers /slow after a quarter of a second and anything else at once.
const slowApp = `import http.server, os, time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.25)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`

// deployFiles deploys a tree of the given files to app.
func (ts *testServer) deployFiles(app string, files map[string]string) {
	ts.t.Helper()
	dir := ts.t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			ts.t.Fatal(err)
		}
	}
	var tgz bytes.Buffer
	if err := build.PackDir(dir, &tgz); err != nil {
		ts.t.Fatal(err)
	}
	msgs := messages(ts.t, ts.must(http.MethodPost, "/api/apps/"+app+"/deploys?commit=abc123", tgz.Bytes(), 200))
	if msgs[len(msgs)-1].Result == nil {
		ts.t.Fatalf("deploy did not succeed: %+v", msgs[len(msgs)-1])
	}
}

// p95Points returns release 1's p95_ms points, [unix seconds, ms].
func p95Points(t *testing.T, ts *testServer) []series.Point {
	t.Helper()
	_, res := seriesOf(t, ts, "?since=10m", 1)
	for _, s := range res.Series {
		if s.Release == 1 && s.Metric == series.P95 {
			return s.Points
		}
	}
	return nil
}

// TestSeriesLatencyPerStep sends slow requests, then fast ones, through the
// router to a real app: the history's p95 is each step's own, so it falls once
// the requests are fast, while the router's since-start p95 stays high.
func TestSeriesLatencyPerStep(t *testing.T) {
	ts := startSeriesServer(t)
	ts.createApp("shop")
	ts.deployFiles("shop", map[string]string{"Procfile": "web: python3 app.py\n", "app.py": slowApp})

	ctx, stopTraffic := context.WithCancel(context.Background())
	defer stopTraffic()
	var slow atomic.Bool
	var slowSent atomic.Int64
	slow.Store(true)
	get := func(path string) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.RouterURL()+path, nil)
		req.Host = "shop.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for worker := range 4 {
		go func() {
			for ctx.Err() == nil {
				switch {
				case slow.Load():
					if get("/slow") {
						slowSent.Add(1)
					}
				case worker == 0:
					get("/")
					time.Sleep(50 * time.Millisecond) // a steady trickle, not a wait
				default:
					time.Sleep(50 * time.Millisecond) // idle while the traffic is fast
				}
			}
		}()
	}

	// Slow: a step with p95 of the quarter second, and enough slow requests
	// that they stay over 5% of all the test sends, so the since-start p95
	// stays slow.
	var slowAt float64
	deadline := time.Now().Add(30 * time.Second)
	for slowAt == 0 || slowSent.Load() < 60 {
		for _, p := range p95Points(t, ts) {
			if p[1] >= 240 {
				slowAt = max(slowAt, p[0])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no step with p95 >= 240 ms after %d slow requests: %v", slowSent.Load(), p95Points(t, ts))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Fast: a later step shows fast requests only.
	slow.Store(false)
	deadline = time.Now().Add(30 * time.Second)
	for {
		points := p95Points(t, ts)
		fast := false
		for _, p := range points {
			fast = fast || (p[0] > slowAt && p[1] < 100)
		}
		if fast {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no step after %v with p95 under 100 ms: %v", slowAt, points)
		}
		time.Sleep(200 * time.Millisecond)
	}
	metrics, err := ts.node.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range metrics {
		if m.App == "shop" && m.Release == 1 {
			found = true
			if m.P95 < 240 {
				t.Errorf("since-start p95 = %.1f ms; want it still slow, or the fast step above proves nothing: %+v", m.P95, m)
			}
		}
	}
	if !found {
		t.Errorf("the node has no metrics of shop v1: %+v", metrics)
	}
}
