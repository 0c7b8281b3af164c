package router

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestMetricsCounts(t *testing.T) {
	status := startBackend(t, "status", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(code)
	})
	rt, srv := startRouter(t, Table{Routes: []Route{
		{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []Backend{{Release: 2, Addrs: []string{addrOf(status)}, Weight: 1}}},
		{App: "down", Hosts: []string{"down.localhost"}, Backends: []Backend{{Release: 1, Addrs: []string{refusedAddr(t)}, Weight: 1}}},
		{App: "blog", Hosts: []string{"blog.localhost"}, Backends: []Backend{
			{Release: 9, Addrs: []string{addrOf(status)}, Weight: 1},
			{Release: 8, Addrs: []string{addrOf(status)}, Weight: 0},
		}},
	}})
	c := newClient(t)
	sent := map[int]int{200: 5, 201: 1, 302: 3, 404: 2, 500: 4}
	for code, n := range sent {
		for range n {
			if a := mustGet(t, c, srv.URL+"/?status="+strconv.Itoa(code), "shop.localhost"); a.status != code {
				t.Fatalf("status = %d, want %d", a.status, code)
			}
		}
	}
	mustGet(t, c, srv.URL, "down.localhost")
	mustGet(t, c, srv.URL+"/?status=204", "blog.localhost")
	eventually(t, "17 requests recorded", func() bool { return totalRequests(rt) == 17 })

	got := rt.Metrics()
	for i := range got {
		got[i].P50, got[i].P90, got[i].P95, got[i].P99 = 0, 0, 0, 0 // checked in TestLatencyQuantiles
	}
	want := []ReleaseMetrics{
		{App: "blog", Release: 8},
		{App: "blog", Release: 9, Requests: 1, Status2xx: 1},
		{App: "down", Release: 1, Requests: 1, Status5xx: 1, ProxyErrors: 1},
		{App: "shop", Release: 2, Requests: 15, Status2xx: 6, Status3xx: 3, Status4xx: 2, Status5xx: 4},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Metrics() =\n%+v\nwant\n%+v", got, want)
	}

	b, err := json.Marshal(want[3])
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"app":"shop","release":2,"requests":15,"status_2xx":6,"status_3xx":3,"status_4xx":2,"status_5xx":4,"proxy_errors":0,"in_flight":0,"p50":0,"p90":0,"p95":0,"p99":0}`
	if string(b) != wantJSON {
		t.Errorf("JSON = %s\nwant   %s", b, wantJSON)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	m := newReleaseMetrics("shop", 1)
	// 1..1000 ms in a scrambled order: the quantiles are known exactly.
	for i := range 1000 {
		m.observe(200, float64((i*7919)%1000+1))
	}
	r := m.reading()
	for _, q := range []struct {
		name      string
		got, want float64
	}{{"p50", r.P50, 500}, {"p90", r.P90, 900}, {"p95", r.P95, 950}, {"p99", r.P99, 990}} {
		// 1% from the sketch, plus one rank of the data.
		if math.Abs(q.got-q.want) > 0.01*q.want+1 {
			t.Errorf("%s = %.2f ms, want %.0f ms within 1%%", q.name, q.got, q.want)
		}
	}
	if l := m.latencyReading(); l.count != 1000 || l.sum != 500500 {
		t.Errorf("count %.0f sum %.0f, want 1000 and 500500", l.count, l.sum)
	}
}

// TestLatencyMeasured checks that the latency the router records includes the time
// the app takes, so a slow release shows up as one.
func TestLatencyMeasured(t *testing.T) {
	const appTime = 20 * time.Millisecond
	slow := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(appTime) // the app's own work, not a wait for the test
	})
	rt, srv := startRouter(t, oneRelease("shop", 1, addrOf(slow)))
	c := newClient(t)
	for range 5 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	eventually(t, "5 requests recorded", func() bool { return totalRequests(rt) == 5 })
	m := rt.Metrics()[0]
	if floor := 0.99 * float64(appTime/time.Millisecond); m.P50 < floor || m.P90 < m.P50 || m.P99 < m.P90 {
		t.Errorf("p50 %.2f p90 %.2f p99 %.2f ms; want p50 >= %.1f and ordered", m.P50, m.P90, m.P99, floor)
	}
}

func TestInFlightUnknownRelease(t *testing.T) {
	if n := New(nil).InFlight("nope", 1); n != 0 {
		t.Fatalf("InFlight of an unknown release = %d, want 0", n)
	}
}
