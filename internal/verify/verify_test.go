package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/compare"
)

func TestParseGates(t *testing.T) {
	g, err := ParseGates(map[string]string{"p99": "+50ms", "diff_rate": "5%", "error_rate": "+2%"})
	if err != nil {
		t.Fatal(err)
	}
	if g.ErrorRate != 0.02 || g.DiffRate != 0.05 || g.Bots != 1 {
		t.Errorf("gates = %+v", g)
	}
	if l := g.Latency[2]; l.Quantile != "p99" || l.Add != 50*time.Millisecond || l.Limit(10) != 60 {
		t.Errorf("p99 = %+v, limit(10) = %v", l, l.Limit(10))
	}
	// A ratio allows LatencySlack at least: 1 ms live allows 11 ms, 100 ms allows 130 ms.
	if l := g.Latency[0]; l.Limit(1) != 11 || l.Limit(100) != 130 {
		t.Errorf("p50 limits = %v, %v", l.Limit(1), l.Limit(100))
	}
	for _, bad := range []map[string]string{{"p99": "1.3"}, {"p99": "x0.5"}, {"diff_rate": "2"}, {"nope": "1%"}, {"bots": "120%"}} {
		if _, err := ParseGates(bad); err == nil {
			t.Errorf("ParseGates(%v) accepted", bad)
		}
	}
}

func window(n int, live, cand Answer) *Window {
	w := NewWindow()
	for range n {
		w.Exchange(live, cand)
	}
	return w
}

func TestJudge(t *testing.T) {
	ok := Answer{Status: 200, Latency: 2 * time.Millisecond}
	slow := Answer{Status: 200, Latency: 300 * time.Millisecond}
	boom := Answer{Status: 500, Latency: time.Millisecond}
	diffs := Differences{Total: 20, Differing: 20, Endpoints: []compare.EndpointReport{{
		Endpoint: "GET /api/notes", Total: 20, Differing: 20,
		Paths: []compare.PathStat{{Path: "$.count", Kind: compare.KindType, Count: 20, Live: "3", Candidate: `"3"`}},
	}}}
	tests := []struct {
		name   string
		w      *Window
		d      Differences
		min    int
		pass   bool
		reason string // a failed verdict's reasons contain it
	}{
		{"same answers pass", window(20, ok, ok), Differences{Total: 20}, 10, true, ""},
		{"too little traffic", window(3, ok, ok), Differences{Total: 3}, 10, false, "only 3 mirrored requests"},
		{"latency needs samples", window(MinLatencySamples("p50")+WarmupRequests-1, ok, slow), Differences{Total: 24}, 10, true, ""},
		{"errors", window(20, ok, boom), Differences{Total: 20}, 10, false, "error_rate: the candidate answered 20 of 20"},
		{"slow", window(600, ok, slow), Differences{Total: 20}, 10, false, "p99: the candidate took 30"},
		{"differences name the path", window(20, ok, ok), diffs, 10, false, "$.count changed type number → string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(tt.w.Figures(), tt.d, DefaultGates(), tt.min)
			if v.Passed != tt.pass {
				t.Fatalf("passed = %v, want %v; reasons %q", v.Passed, tt.pass, v.Reasons)
			}
			if tt.reason != "" && !strings.Contains(strings.Join(v.Reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q do not say %q", v.Reasons, tt.reason)
			}
		})
	}
}

func TestJudgeBotsAndRestarts(t *testing.T) {
	w := window(20, Answer{Status: 200}, Answer{Status: 200})
	w.BotRun("live", "book", true, "", "")
	w.BotRun("candidate", "book", false, `step 2 "read it back": status 404, want 200`, "40 EUR")
	w.BotRun("live", "legacy", false, "step 1: status 404", "")
	w.BotRun("candidate", "legacy", false, "step 1: status 404", "")
	v := Judge(w.Figures(), Differences{Total: 20}, DefaultGates(), 10)
	all := strings.Join(v.Reasons, "\n")
	if v.Passed || !strings.Contains(all, `journey "book" failed 1 of 1 runs on the candidate: step 2 "read it back"`) ||
		!strings.Contains(all, "40 EUR") {
		t.Fatalf("verdict %+v", v)
	}
	if strings.Contains(all, "legacy") {
		t.Errorf("a journey failing on live too is blamed on the candidate: %q", all)
	}

	// A journey expected but never judged on the candidate is missing data:
	// the gate fails; one that fails on live too is not the candidate's.
	w = window(20, Answer{Status: 200}, Answer{Status: 200})
	w.ExpectBots("book", "legacy", "quiet")
	w.BotRun("live", "book", true, "", "")
	w.BotRun("live", "legacy", false, "step 1: status 404", "")
	v = Judge(w.Figures(), Differences{Total: 20}, DefaultGates(), 10)
	all = strings.Join(v.Reasons, "\n")
	if v.Passed || !strings.Contains(all, `journey "book" has no run judged on the candidate (1 runs on live)`) ||
		!strings.Contains(all, `journey "quiet" has no run judged`) || strings.Contains(all, "legacy") {
		t.Fatalf("verdict with journeys never judged: %+v", v)
	}
	w.BotRun("candidate", "book", true, "", "")
	w.BotRun("candidate", "quiet", true, "", "")
	if v = Judge(w.Figures(), Differences{Total: 20}, DefaultGates(), 10); !v.Passed {
		t.Fatalf("verdict once every journey is judged: %+v", v)
	}

	w = window(20, Answer{Status: 200}, Answer{Status: 200})
	w.Restarts(2, "exit status 2")
	v = Judge(w.Figures(), Differences{Total: 20}, DefaultGates(), 10)
	if v.Passed || !strings.Contains(v.Reasons[0], "ended 2 times during verification: exit status 2") {
		t.Fatalf("verdict %+v", v)
	}
}

func TestWindowWarmUntil(t *testing.T) {
	w := NewWindow()
	start := time.Now()
	w.WarmUntil(start.Add(time.Second))
	for i := range 40 {
		at := start.Add(time.Duration(i) * 50 * time.Millisecond) // 20 before, 20 after
		w.Exchange(Answer{Status: 200, Latency: time.Millisecond, At: at}, Answer{Status: 200, Latency: time.Millisecond})
	}
	if f := w.Figures(); f.Requests != 40 || f.LatencySamples != 20 {
		t.Fatalf("requests %d, latency samples %d; want 40 and the 20 after the warm-up", f.Requests, f.LatencySamples)
	}
}
