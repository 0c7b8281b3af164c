package server

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
	if last[series.P50] <= 0 || last[series.P99] < last[series.P50] {
		t.Errorf("p50 %v, p99 %v", last[series.P50], last[series.P99])
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
