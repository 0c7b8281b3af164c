package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestRecordBotRuns(t *testing.T) { eachBackend(t, testRecordBotRuns) }

func testRecordBotRuns(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	start := stepClock(s)
	started := time.Date(2026, 3, 1, 11, 0, 0, 5, time.FixedZone("CET", 3600))

	batch := []BotRun{
		{App: "shop", Release: 2, Target: TargetLive, Scenario: "book a room", File: "bots/book.yaml",
			Passed: true, FailedStep: 0, Started: started, Duration: 120 * time.Millisecond},
		{App: "shop", Release: 3, Target: TargetCandidate, Scenario: "book a room", File: "bots/book.yaml",
			FailedStep: 1, StepName: "read it back", Reason: `step 1 "read it back": status 500, want 200`,
			CostAmount: 40, CostCurrency: "EUR", Started: started.Add(time.Second), Duration: time.Second},
		{App: "shop", Release: 2, Target: TargetLive, Scenario: "smoke", Passed: true, FailedStep: -1},
	}
	if err := s.RecordBotRuns(ctx, batch); err != nil {
		t.Fatalf("RecordBotRuns: %v", err)
	}
	runs, err := s.BotRuns(ctx, BotRunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first; a passed run's failed step is -1 whatever was given; a zero
	// start is now; times come back in UTC.
	want := []BotRun{
		{ID: 3, App: "shop", Release: 2, Target: TargetLive, Scenario: "smoke", Passed: true, FailedStep: -1, Started: start},
		{ID: 2, App: "shop", Release: 3, Target: TargetCandidate, Scenario: "book a room", File: "bots/book.yaml",
			FailedStep: 1, StepName: "read it back", Reason: `step 1 "read it back": status 500, want 200`,
			CostAmount: 40, CostCurrency: "EUR", Started: started.Add(time.Second).UTC(), Duration: time.Second},
		{ID: 1, App: "shop", Release: 2, Target: TargetLive, Scenario: "book a room", File: "bots/book.yaml",
			Passed: true, FailedStep: -1, Started: started.UTC(), Duration: 120 * time.Millisecond},
	}
	if !reflect.DeepEqual(runs, want) {
		t.Errorf("BotRuns =\n%+v\nwant\n%+v", runs, want)
	}
	b, _ := json.Marshal(runs[0])
	if w := `{"id":3,"app":"shop","release":2,"target":"live","scenario":"smoke","passed":true,"failed_step":-1,"started":"2026-03-01T12:00:00.123456789Z","duration_ns":0}`; string(b) != w {
		t.Errorf("bot run JSON = %s, want %s", b, w)
	}

	if err := s.RecordBotRuns(ctx, nil); err != nil {
		t.Errorf("RecordBotRuns of no runs: %v", err)
	}
	good := BotRun{App: "shop", Release: 1, Target: TargetLive, Scenario: "smoke", Passed: true}
	for _, tc := range []struct {
		name string
		bad  BotRun
		want error
	}{
		{"missing app", BotRun{App: "nope", Target: TargetLive, Scenario: "smoke"}, ErrNotFound},
		{"no scenario", BotRun{App: "shop", Target: TargetLive}, ErrInvalid},
		{"unknown target", BotRun{App: "shop", Target: "canary", Scenario: "smoke"}, ErrInvalid},
		{"no target", BotRun{App: "shop", Scenario: "smoke"}, ErrInvalid},
		{"negative release", BotRun{App: "shop", Release: -1, Target: TargetLive, Scenario: "smoke"}, ErrInvalid},
		{"negative duration", BotRun{App: "shop", Target: TargetLive, Scenario: "smoke", Duration: -time.Second}, ErrInvalid},
	} {
		// One bad run refuses the whole batch.
		if err := s.RecordBotRuns(ctx, []BotRun{good, tc.bad, good}); !errors.Is(err, tc.want) {
			t.Errorf("%s: RecordBotRuns err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if runs, err := s.BotRuns(ctx, BotRunQuery{}); err != nil || len(runs) != 3 {
		t.Errorf("after refused batches there are %d runs, %v; want the 3 first", len(runs), err)
	}
}

func TestBotRunsGoWithTheirApp(t *testing.T) { eachBackend(t, testBotRunsGoWithTheirApp) }

func testBotRunsGoWithTheirApp(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	mustCreateApp(t, s, "blog")
	var batch []BotRun
	for _, app := range []string{"shop", "blog"} {
		batch = append(batch, BotRun{App: app, Release: 1, Target: TargetLive, Scenario: "smoke", Passed: true})
	}
	if err := s.RecordBotRuns(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	// A re-created app starts again at release 1 and must not inherit the runs.
	mustCreateApp(t, s, "shop")
	for app, want := range map[string]int{"shop": 0, "blog": 1} {
		if runs, err := s.BotRuns(ctx, BotRunQuery{App: app}); err != nil || len(runs) != want {
			t.Errorf("runs of %s = %d, %v; want %d", app, len(runs), err, want)
		}
	}
}

// seedBotRuns records runs at base + i seconds, in an order that differs from
// their start order, and returns base.
func seedBotRuns(t *testing.T, s *Store) time.Time {
	t.Helper()
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	mustCreateApp(t, s, "blog")
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
	fail := func(r BotRun, reason string, cost float64, currency string) BotRun {
		r.Passed, r.FailedStep, r.Reason, r.CostAmount, r.CostCurrency = false, 1, reason, cost, currency
		return r
	}
	run := func(app string, rel int, target, scenario string, at int) BotRun {
		return BotRun{App: app, Release: rel, Target: target, Scenario: scenario, Passed: true, Started: sec(at)}
	}
	batch := []BotRun{
		run("shop", 1, TargetLive, "book", 0),                                                   // ID 1
		run("shop", 1, TargetLive, "book", 1),                                                   // 2
		fail(run("shop", 2, TargetCandidate, "book", 5), "newest failure", 40, "EUR"),           // 3
		fail(run("shop", 2, TargetCandidate, "book", 3), "older failure", 40, "EUR"),            // 4
		run("shop", 2, TargetCandidate, "book", 4),                                              // 5
		run("shop", 2, TargetLive, "book", 2),                                                   // 6
		fail(run("shop", 2, TargetLive, "browse", 6), "browse broke", 0, ""),                    // 7
		fail(run("blog", 1, TargetLive, "read", 7), "in euros", 5, "EUR"),                       // 8
		fail(run("blog", 1, TargetLive, "read", 8), "in dollars", 6, "USD"),                     // 9
		run("blog", 1, TargetLive, "read", 9),                                                   // 10
		fail(run("shop", 1, TargetLive, "book", 10), "late failure of v1 on live", 40.5, "EUR"), // 11
	}
	if err := s.RecordBotRuns(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return base
}

func TestBotRunsQuery(t *testing.T) { eachBackend(t, testBotRunsQuery) }

func testBotRunsQuery(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	base := seedBotRuns(t, s)
	sec := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
	tests := []struct {
		name string
		q    BotRunQuery
		want []int64 // IDs, newest start first
	}{
		{"all", BotRunQuery{}, []int64{11, 10, 9, 8, 7, 3, 5, 4, 6, 2, 1}},
		{"by app", BotRunQuery{App: "blog"}, []int64{10, 9, 8}},
		{"by release", BotRunQuery{App: "shop", Release: 2}, []int64{7, 3, 5, 4, 6}},
		{"by target", BotRunQuery{Target: TargetCandidate}, []int64{3, 5, 4}},
		{"by scenario", BotRunQuery{Scenario: "browse"}, []int64{7}},
		{"failed only", BotRunQuery{FailedOnly: true}, []int64{11, 9, 8, 7, 3, 4}},
		{"since is inclusive", BotRunQuery{Since: sec(8)}, []int64{11, 10, 9}},
		{"until is exclusive", BotRunQuery{Until: sec(2)}, []int64{2, 1}},
		{"limit takes the newest", BotRunQuery{Limit: 2}, []int64{11, 10}},
		{"combined", BotRunQuery{App: "shop", Release: 2, Target: TargetCandidate, Scenario: "book",
			FailedOnly: true, Since: sec(3), Until: sec(10), Limit: 5}, []int64{3, 4}},
		{"no match", BotRunQuery{App: "nope"}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runs, err := s.BotRuns(ctx, tc.q)
			if err != nil {
				t.Fatalf("BotRuns: %v", err)
			}
			got := []int64{}
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BotRuns(%+v) IDs = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestBotSummaries(t *testing.T) { eachBackend(t, testBotSummaries) }

func testBotSummaries(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	base := seedBotRuns(t, s)
	at := func(n int) *time.Time { t := base.Add(time.Duration(n) * time.Second); return &t }
	blog := BotSummary{App: "blog", Scenario: "read", Target: TargetLive, Release: 1, Runs: 3, Failures: 2,
		Cost: 11, Currency: "mixed", LastFailure: at(8), LastReason: "in dollars"}
	shop2cand := BotSummary{App: "shop", Scenario: "book", Target: TargetCandidate, Release: 2, Runs: 3, Failures: 2,
		Cost: 80, Currency: "EUR", LastFailure: at(5), LastReason: "newest failure"}
	shop2live := BotSummary{App: "shop", Scenario: "book", Target: TargetLive, Release: 2, Runs: 1}
	shop2browse := BotSummary{App: "shop", Scenario: "browse", Target: TargetLive, Release: 2, Runs: 1, Failures: 1,
		LastFailure: at(6), LastReason: "browse broke"}
	shop1 := BotSummary{App: "shop", Scenario: "book", Target: TargetLive, Release: 1, Runs: 3, Failures: 1,
		Cost: 40.5, Currency: "EUR", LastFailure: at(10), LastReason: "late failure of v1 on live"}
	shop1early := shop1
	shop1early.Runs, shop1early.Failures, shop1early.Cost, shop1early.Currency = 2, 0, 0, ""
	shop1early.LastFailure, shop1early.LastReason = nil, ""

	tests := []struct {
		name string
		q    BotRunQuery
		want []BotSummary
	}{
		// By app, newest release first, then scenario and target.
		{"all", BotRunQuery{}, []BotSummary{blog, shop2cand, shop2live, shop2browse, shop1}},
		{"one release", BotRunQuery{App: "shop", Release: 2}, []BotSummary{shop2cand, shop2live, shop2browse}},
		{"one target and scenario", BotRunQuery{Target: TargetCandidate, Scenario: "book"}, []BotSummary{shop2cand}},
		{"window leaves out the late failure", BotRunQuery{App: "shop", Release: 1, Until: base.Add(10 * time.Second)},
			[]BotSummary{shop1early}},
		{"failed only", BotRunQuery{App: "shop", Release: 2, FailedOnly: true}, []BotSummary{
			{App: "shop", Scenario: "book", Target: TargetCandidate, Release: 2, Runs: 2, Failures: 2,
				Cost: 80, Currency: "EUR", LastFailure: at(5), LastReason: "newest failure"},
			shop2browse}},
		{"limit counts summaries", BotRunQuery{Limit: 2}, []BotSummary{blog, shop2cand}},
		{"no match", BotRunQuery{App: "nope"}, []BotSummary{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.BotSummaries(ctx, tc.q)
			if err != nil {
				t.Fatalf("BotSummaries: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("BotSummaries(%+v) =\n%s\nwant\n%s", tc.q, summaries(got), summaries(tc.want))
			}
		})
	}
}

// summaries prints summaries readably, times included.
func summaries(list []BotSummary) string {
	out := ""
	for _, b := range list {
		last := "never"
		if b.LastFailure != nil {
			last = b.LastFailure.Format(time.RFC3339Nano)
		}
		out += fmt.Sprintf("  %s v%d %s %s: %d runs %d failures cost %v %q last %s %q\n",
			b.App, b.Release, b.Scenario, b.Target, b.Runs, b.Failures, b.Cost, b.Currency, last, b.LastReason)
	}
	return out
}

func TestPruneBotRuns(t *testing.T) { eachBackend(t, testPruneBotRuns) }

func testPruneBotRuns(t *testing.T, be backend) {
	ctx := context.Background()
	old := pruneChunk
	pruneChunk = 3 // several transactions per prune
	t.Cleanup(func() { pruneChunk = old })
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cutoff := base.Add(time.Hour)

	tests := []struct {
		name       string
		keepFailed bool
		wantPruned int64
		wantLeft   int
	}{
		// 20 runs, 10 before the cutoff of which 4 failed; 10 at or after it.
		{"keep failed", true, 6, 14},
		{"failed too", false, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, be)
			mustCreateApp(t, s, "shop")
			var batch []BotRun
			for i := range 20 {
				at := base.Add(time.Duration(i-10) * time.Minute)
				if i >= 10 {
					at = cutoff.Add(time.Duration(i-10) * time.Minute)
				}
				batch = append(batch, BotRun{App: "shop", Release: 1, Target: TargetLive, Scenario: "smoke",
					Passed: i%5 != 0 && i%5 != 3, Started: at})
			}
			if err := s.RecordBotRuns(ctx, batch); err != nil {
				t.Fatal(err)
			}
			n, err := s.PruneBotRuns(ctx, cutoff, tc.keepFailed)
			if err != nil || n != tc.wantPruned {
				t.Fatalf("PruneBotRuns = %d, %v; want %d", n, err, tc.wantPruned)
			}
			left, err := s.BotRuns(ctx, BotRunQuery{})
			if err != nil || len(left) != tc.wantLeft {
				t.Fatalf("%d runs left, %v; want %d", len(left), err, tc.wantLeft)
			}
			for _, r := range left {
				if r.Started.Before(cutoff) && (r.Passed || !tc.keepFailed) {
					t.Errorf("run %d started %v (passed %v) survived the prune", r.ID, r.Started, r.Passed)
				}
			}
			// Nothing more to prune.
			if n, err := s.PruneBotRuns(ctx, cutoff, tc.keepFailed); err != nil || n != 0 {
				t.Errorf("second PruneBotRuns = %d, %v; want 0", n, err)
			}
		})
	}
	s := newTestStore(t, be)
	if _, err := s.PruneBotRuns(ctx, time.Time{}, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("PruneBotRuns with a zero time err = %v, want ErrInvalid", err)
	}
}
