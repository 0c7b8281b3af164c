package main

import (
	"strings"
	"testing"
	"time"
)

// Reports printed by wrk 4.1.0 (Debian) with --latency.
const (
	wrkClean = `Running 1s test @ http://127.0.0.1:34509/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.16ms    2.18ms  32.89ms   92.92%
    Req/Sec    10.85k     3.60k   16.78k    55.00%
  Latency Distribution
     50%  553.00us
     75%    1.12ms
     90%    2.48ms
     99%    9.89ms
  21554 requests in 1.00s, 6.70MB read
Requests/sec:  21525.07
Transfer/sec:      6.69MB
`
	wrkErrors = `Running 1s test @ http://127.0.0.1:41067/missing
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.15ms   12.14ms  91.29ms   92.94%
    Req/Sec   588.40    247.73     0.86k    80.00%
  Latency Distribution
     50%    5.68ms
     75%    9.08ms
     90%   15.36ms
     99%    1.07s
  587 requests in 1.00s, 298.27KB read
  Socket errors: connect 0, read 12, write 1, timeout 3
  Non-2xx or 3xx responses: 587
Requests/sec:    585.60
Transfer/sec:    297.56KB
`
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr string
	}{
		{
			name: "clean run",
			out:  wrkClean,
			want: wrkResult{requests: 21554, reqPerSec: 21525.07, p50: 553 * time.Microsecond, p99: 9890 * time.Microsecond},
		},
		{
			name: "errors and seconds",
			out:  wrkErrors,
			want: wrkResult{requests: 587, reqPerSec: 585.60, p50: 5680 * time.Microsecond, p99: 1070 * time.Millisecond,
				non2xx: 587, socketErrors: 16},
		},
		{
			name:    "without --latency",
			out:     strings.Replace(wrkClean, "Latency Distribution", "", 1),
			wantErr: "no latency distribution",
		},
		{
			name:    "no p99",
			out:     strings.Replace(wrkClean, "     99%    9.89ms\n", "", 1),
			wantErr: "no 99% latency",
		},
		{
			name:    "unknown unit",
			out:     strings.Replace(wrkClean, "553.00us", "553.00ns", 1),
			wantErr: "no latency distribution",
		},
		{
			name:    "no rate",
			out:     strings.Replace(wrkClean, "Requests/sec:  21525.07", "", 1),
			wantErr: "no Requests/sec",
		},
		{
			name:    "connection refused",
			out:     "unable to connect to 127.0.0.1:34509 Connection refused\n",
			wantErr: "no request count",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"812.00us", 812 * time.Microsecond},
		{"1.27ms", 1270 * time.Microsecond},
		{"2.00s", 2 * time.Second},
		{"1.50m", 90 * time.Second},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "12", "ms", "1.2x"} {
		if _, err := parseWrkDuration(bad); err == nil {
			t.Errorf("parseWrkDuration(%q): no error", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
