package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

func TestPacedJobs(t *testing.T) {
	names := []string{nameDirect, nameRouter, nameMirror, "nginx", "haproxy"}
	var targets []*target
	for _, n := range names {
		targets = append(targets, &target{name: n})
	}
	sums := map[string]summary{
		nameDirect: {reqPerSec: 40000},
		nameRouter: {reqPerSec: 11001},
		nameMirror: {reqPerSec: 7000},
		"nginx":    {reqPerSec: 22000},
		"haproxy":  {reqPerSec: 0.5}, // too slow to pace: left out
	}
	var got []string
	for _, j := range pacedJobs(targets, sums, []float64{0.5, 0.25}) {
		got = append(got, fmt.Sprintf("%s@%.2f*%s:%.0f", j.target.name, j.share, j.ref, j.rate))
	}
	want := []string{
		"router@0.50*router:5501", "direct@0.50*router:5501",
		"nginx@0.50*nginx:11000", "direct@0.50*nginx:11000",
		"router+mirror@0.50*router:5501",
		"router@0.25*router:2750", "router+mirror@0.25*router:2750",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("jobs\n got %v\nwant %v", got, want)
	}
}

func TestPrintMirror(t *testing.T) {
	rt, dir, mir := &target{name: nameRouter}, &target{name: nameDirect}, &target{name: nameMirror}
	jobs := []pacedJob{{rt, nameRouter, 0.5, 5000}, {dir, nameRouter, 0.5, 5000}, {mir, nameRouter, 0.5, 5000}}
	p99 := func(d ...time.Duration) []pacedResult {
		var rs []pacedResult
		for _, x := range d {
			rs = append(rs, pacedResult{requests: 20000, rate: 5000, p50: x / 4, p99: x})
		}
		return rs
	}
	tests := []struct {
		name    string
		off, on []pacedResult
		want    string
	}{
		{"within", p99(2*time.Millisecond, 3*time.Millisecond, 2*time.Millisecond), p99(2100 * time.Microsecond), "p99 on/off 1.05: within 10%"},
		{"over", p99(2 * time.Millisecond), p99(9*time.Millisecond, 2300*time.Microsecond, 1*time.Millisecond), "p99 on/off 1.15: NOT within 10%"},
	}
	for _, tt := range tests {
		var b strings.Builder
		printMirror(&b, jobs, [][]pacedResult{tt.off, p99(time.Millisecond), tt.on},
			mirrorAccount{requests: 60000, compared: 59000, dropped: 1000})
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("%s: output lacks %q:\n%s", tt.name, tt.want, b.String())
		}
		if !strings.Contains(b.String(), "59000 compared (98.3%)") {
			t.Errorf("%s: output lacks the compared share:\n%s", tt.name, b.String())
		}
	}
}

func TestComparer(t *testing.T) {
	resp := func(status int, body string) router.CapturedResponse {
		return router.CapturedResponse{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)}
	}
	var c comparer
	c.observe(router.Exchange{Live: resp(200, `{"a":1}`), Candidate: resp(200, `{"a":1}`)})
	c.observe(router.Exchange{Request: router.CapturedRequest{Path: "/a"}, Live: resp(200, `{"a":1}`), Candidate: resp(200, `{"a":2}`)})
	c.observe(router.Exchange{Live: resp(200, `{"a":1}`), Candidate: resp(500, `{"a":1}`)})
	// A live answer the client hung up on is not compared.
	c.observe(router.Exchange{Live: router.CapturedResponse{Err: "client went away"}, Candidate: resp(200, `{"a":1}`)})
	s := c.stats([]router.MirrorMetrics{{App: "bench", Release: 2, Mirrored: 4}})
	if s.Compared != 3 || s.Differing != 2 || s.LiveIncomplete != 1 || s.Mirror.Mirrored != 4 {
		t.Errorf("stats %+v: want 3 compared, 2 differing, 1 not compared, 4 mirrored", s)
	}
	if len(s.Examples) != 2 || s.Examples[0].Path != "/a" || s.Examples[0].Differences[0].Path != "$.a" ||
		s.Examples[1].Differences[0].Kind != "status" {
		t.Errorf("examples %+v: want the value of $.a, then the status", s.Examples)
	}
	for range 2 * maxExamples {
		c.observe(router.Exchange{Live: resp(200, `{}`), Candidate: resp(404, `{}`)})
	}
	if s := c.stats(nil); len(s.Examples) != maxExamples || s.Differing != 2+2*maxExamples {
		t.Errorf("kept %d examples of %d differing, want %d", len(s.Examples), s.Differing, maxExamples)
	}
}

func TestFmtSigned(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Microsecond: "+1.50ms",
		-250 * time.Microsecond: "-250µs",
		0:                       "+0µs",
	} {
		if got := fmtSigned(d); got != want {
			t.Errorf("fmtSigned(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSummarizePaced(t *testing.T) {
	ms := time.Millisecond
	s := summarizePaced([]pacedResult{
		{rate: 990, p50: 2 * ms, p99: 5 * ms, errors: 1},
		{rate: 1000, p50: 1 * ms, p99: 3 * ms},
		{rate: 1010, p50: 3 * ms, p99: 9 * ms, errors: 2},
	})
	want := pacedSummary{rate: 1000, p50: 2 * ms, p99: 5 * ms, bestP99: 3 * ms, errors: 3}
	if s != want {
		t.Errorf("summary %+v, want %+v", s, want)
	}
}
