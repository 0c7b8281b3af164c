package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDueAt(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		rate    float64
		n, c, k int
		want    time.Duration
	}{
		{1000, 4, 0, 0, 0},
		{1000, 4, 1, 0, time.Millisecond},
		{1000, 4, 0, 1, 4 * time.Millisecond},
		{1000, 4, 3, 2, 11 * time.Millisecond},
		{3, 1, 0, 1, 333333333 * time.Nanosecond},
		{0.5, 2, 1, 1, 6 * time.Second},
	}
	for _, tt := range tests {
		if got := dueAt(start, tt.rate, tt.n, tt.c, tt.k).Sub(start); got != tt.want {
			t.Errorf("dueAt(rate %v, n %d, c %d, k %d) = +%v, want +%v", tt.rate, tt.n, tt.c, tt.k, got, tt.want)
		}
	}
}

// TestDueAtEven checks that the connections' schedules together are one even
// schedule at the full rate: no two requests due at once, none skipped.
func TestDueAtEven(t *testing.T) {
	start := time.Now()
	const rate, n, perConn = 7000.0, 16, 50
	var all []time.Duration
	for c := range n {
		for k := range perConn {
			all = append(all, dueAt(start, rate, n, c, k).Sub(start))
		}
	}
	slices.Sort(all)
	for i, d := range all {
		want := time.Duration(float64(i) * float64(time.Second) / rate)
		if diff := d - want; diff < -time.Nanosecond || diff > time.Nanosecond {
			t.Fatalf("request %d due at +%v, want +%v", i, d, want)
		}
	}
}

func TestRunPacedRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != benchHost {
			http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
			return
		}
		w.Write(backendBody)
	}))
	defer srv.Close()
	r, err := runPaced(context.Background(), srv.URL+"/", pacedLoad{rate: 500, connections: 4, duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 || r.requests < 475 || r.requests > 500 {
		t.Errorf("result %+v: want 500 requests answered in 1s at 500/s, no error", r)
	}
	if r.p50 <= 0 || r.p99 < r.p50 || r.p99 > time.Second {
		t.Errorf("quantiles p50 %v, p99 %v: implausible", r.p50, r.p99)
	}
}

// TestRunPacedChargesStalls checks that latency runs from when a request was
// due: a server that takes 20 ms per request, paced at 100/s on one connection,
// holds up the requests behind each one, and they must be charged for the wait.
// A load generator measuring from the send would report about 20 ms for all.
func TestRunPacedChargesStalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond) // service time, not a wait for an event
		w.Write(backendBody)
	}))
	defer srv.Close()
	r, err := runPaced(context.Background(), srv.URL+"/", pacedLoad{rate: 100, connections: 1, duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// About 50 answers; request k is due at 10k ms and done at about 20(k+1) ms.
	if r.requests > 60 || r.rate > 60 {
		t.Errorf("result %+v: the server answers at most 50/s", r)
	}
	if r.p50 < 150*time.Millisecond || r.p99 < 350*time.Millisecond {
		t.Errorf("p50 %v, p99 %v: the queueing behind a slow server is not charged", r.p50, r.p99)
	}
}

func TestRunPacedErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := runPaced(context.Background(), srv.URL+"/", pacedLoad{rate: 100, connections: 2, duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want one quoting the 503 answers", err)
	}
	if _, err := runPaced(context.Background(), srv.URL, pacedLoad{rate: 0, connections: 1, duration: time.Second}); err == nil {
		t.Error("rate 0 accepted")
	}
}

// TestRunPacedReconnects checks that a connection the server closes after each
// answer is replaced and the requests keep being answered.
func TestRunPacedReconnects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write(backendBody)
	}))
	defer srv.Close()
	r, err := runPaced(context.Background(), srv.URL+"/", pacedLoad{rate: 200, connections: 2, duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.errors != 0 || r.requests < 190 {
		t.Errorf("result %+v: want about 200 answers and no error", r)
	}
}
