package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// load is how wrk drives a target.
type load struct {
	threads, connections int
	duration             time.Duration
}

// wrkResult is what one wrk run measured.
type wrkResult struct {
	requests     int64
	reqPerSec    float64
	p50, p99     time.Duration
	non2xx       int64
	socketErrors int64
}

// runWrk runs wrk against url with the bench Host header and parses its report.
// The run is bounded: wrk gets its duration plus 15 s before it is killed.
func runWrk(ctx context.Context, url string, l load) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, l.duration+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk",
		"--threads", strconv.Itoa(l.threads),
		"--connections", strconv.Itoa(l.connections),
		"--duration", fmt.Sprintf("%ds", int(l.duration.Round(time.Second)/time.Second)),
		"--timeout", "2s",
		"--latency",
		"--header", "Host: "+benchHost,
		url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return r, nil
}

var (
	reRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	reRate     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	reNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the plain-text report of `wrk --latency`. It looks for each
// figure by its label rather than by line position, so extra lines (errors,
// another wrk build's banner) do not break it, and it fails on a report that
// lacks a figure instead of returning zero.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := reRequests.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New("no request count in wrk output")
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	m = reRate.FindStringSubmatch(out)
	if m == nil {
		return r, errors.New("no Requests/sec in wrk output")
	}
	var err error
	if r.reqPerSec, err = strconv.ParseFloat(m[1], 64); err != nil {
		return r, fmt.Errorf("parse requests/sec %q: %w", m[1], err)
	}
	dist, ok := latencyDistribution(out)
	if !ok {
		return r, errors.New("no latency distribution in wrk output; was --latency given?")
	}
	if r.p50, ok = dist["50%"]; !ok {
		return r, errors.New("no 50% latency in wrk output")
	}
	if r.p99, ok = dist["99%"]; !ok {
		return r, errors.New("no 99% latency in wrk output")
	}
	if m = reNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.socketErrors += n
		}
	}
	return r, nil
}

// latencyDistribution reads the percentile lines that follow the "Latency
// Distribution" heading: "     50%  101.00us".
func latencyDistribution(out string) (map[string]time.Duration, bool) {
	_, after, found := strings.Cut(out, "Latency Distribution")
	if !found {
		return nil, false
	}
	dist := make(map[string]time.Duration)
	for _, line := range strings.Split(after, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasSuffix(f[0], "%") {
			break
		}
		d, err := parseWrkDuration(f[1])
		if err != nil {
			return nil, false
		}
		dist[f[0]] = d
	}
	return dist, len(dist) > 0
}

// wrkUnits are the units wrk prints durations in, longest suffix first so that
// "ms" is not read as "s".
var wrkUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
}

// parseWrkDuration parses a wrk duration such as "812.00us", "1.27ms" or "2.00s".
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range wrkUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return time.Duration(math.Round(v * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}
