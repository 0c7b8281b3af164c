package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordTestIngest(t *testing.T) { eachBackend(t, testRecordTestIngest) }

func testRecordTestIngest(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "notes")
	now := stepClock(s)
	ran := time.Date(2026, 2, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))

	runs := []TestRun{
		{Name: "p.TestA", Outcome: TestPass, Duration: time.Second},
		{Name: "p.TestA/x", Outcome: TestFail, Duration: 500 * time.Millisecond, Message: "want 3"},
		{Name: "p.TestB", Outcome: TestSkip, RanAt: ran.Add(time.Minute)},
		{Name: "p.TestA", Outcome: TestPass, Duration: time.Second},
	}
	in, err := s.RecordTestIngest(ctx, TestIngest{App: "notes", Commit: "abc123", Format: "go", Source: "ci",
		Wall: 12 * time.Minute, RanAt: ran}, runs)
	if err != nil {
		t.Fatal(err)
	}
	want := TestIngest{ID: 1, App: "notes", Commit: "abc123", Format: "go", Source: "ci", Wall: 12 * time.Minute,
		RanAt: ran.UTC(), IngestedAt: now, Tests: 3}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("RecordTestIngest = %+v, want %+v", in, want)
	}
	ingests, err := s.TestIngests(ctx, TestRunQuery{App: "notes"})
	if err != nil || len(ingests) != 1 || !reflect.DeepEqual(ingests[0], want) {
		t.Errorf("TestIngests = %+v, %v", ingests, err)
	}
	got, err := s.TestRuns(ctx, TestRunQuery{App: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by name then time; runs take the ingest's app, commit and time.
	wantRuns := []TestRun{
		{ID: 1, IngestID: 1, App: "notes", Commit: "abc123", Name: "p.TestA", Outcome: TestPass, Duration: time.Second, RanAt: ran.UTC()},
		{ID: 4, IngestID: 1, App: "notes", Commit: "abc123", Name: "p.TestA", Outcome: TestPass, Duration: time.Second, RanAt: ran.UTC()},
		{ID: 2, IngestID: 1, App: "notes", Commit: "abc123", Name: "p.TestA/x", Outcome: TestFail, Duration: 500 * time.Millisecond,
			RanAt: ran.UTC(), Message: "want 3"},
		{ID: 3, IngestID: 1, App: "notes", Commit: "abc123", Name: "p.TestB", Outcome: TestSkip, RanAt: ran.Add(time.Minute).UTC()},
	}
	if !reflect.DeepEqual(got, wantRuns) {
		t.Errorf("TestRuns =\n%+v\nwant\n%+v", got, wantRuns)
	}

	// A second ingest without a time is now; filters select by name and time.
	if _, err := s.RecordTestIngest(ctx, TestIngest{App: "notes", Commit: "def456", Format: "junit"},
		[]TestRun{{Name: "p.TestA", Outcome: TestFail}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    TestRunQuery
		runs int
	}{
		{TestRunQuery{}, 5},
		{TestRunQuery{Name: "p.TestA"}, 3},
		{TestRunQuery{Since: now}, 1},
		{TestRunQuery{Until: now}, 4},
		{TestRunQuery{App: "other"}, 0},
	} {
		got, err := s.TestRuns(ctx, tc.q)
		if err != nil || len(got) != tc.runs {
			t.Errorf("TestRuns(%+v) = %d runs, %v; want %d", tc.q, len(got), err, tc.runs)
		}
	}
	if ing, _ := s.TestIngests(ctx, TestRunQuery{Since: now}); len(ing) != 1 || ing[0].Commit != "def456" {
		t.Errorf("TestIngests since now = %+v", ing)
	}
}

func TestRecordTestIngestIsAllOrNothing(t *testing.T) {
	eachBackend(t, testRecordTestIngestIsAllOrNothing)
}

func testRecordTestIngestIsAllOrNothing(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "notes")
	good := TestIngest{App: "notes", Commit: "abc", Format: "go"}
	ok := TestRun{Name: "p.TestA", Outcome: TestPass}
	tests := []struct {
		name string
		in   TestIngest
		runs []TestRun
		want error
		msg  string
	}{
		{"unknown app", TestIngest{App: "nope", Commit: "abc", Format: "go"}, []TestRun{ok}, ErrNotFound, `app "nope"`},
		{"no commit", TestIngest{App: "notes", Format: "go"}, []TestRun{ok}, ErrInvalid, "no commit"},
		{"bad format", TestIngest{App: "notes", Commit: "abc", Format: "tap"}, []TestRun{ok}, ErrInvalid, `format "tap"`},
		{"negative wall", TestIngest{App: "notes", Commit: "abc", Format: "go", Wall: -1}, []TestRun{ok}, ErrInvalid, "negative wall"},
		{"nameless run", good, []TestRun{ok, {Outcome: TestPass}}, ErrInvalid, "without a name"},
		{"bad outcome", good, []TestRun{ok, {Name: "x", Outcome: "error"}}, ErrInvalid, `outcome "error"`},
		{"negative duration", good, []TestRun{ok, {Name: "x", Outcome: TestPass, Duration: -1}}, ErrInvalid, "negative duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RecordTestIngest(ctx, tc.in, tc.runs)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
	// The refused ingests, good runs and all, left nothing behind.
	runs, _ := s.TestRuns(ctx, TestRunQuery{})
	ingests, _ := s.TestIngests(ctx, TestRunQuery{})
	if len(runs) != 0 || len(ingests) != 0 {
		t.Errorf("refused ingests left %d runs and %d ingests", len(runs), len(ingests))
	}
	many := make([]TestRun, 3*testRunBatch)
	for i := range many {
		many[i] = TestRun{Name: fmt.Sprintf("p.Test%d", i), Outcome: TestPass}
	}
	// Batches of every size go in whole.
	for _, n := range []int{0, 1, testRunBatch, testRunBatch + 1, 3*testRunBatch - 1} {
		in, err := s.RecordTestIngest(ctx, good, many[:n])
		if err != nil {
			t.Fatal(err)
		}
		if in.Tests != n {
			t.Errorf("ingest of %d runs: %d tests", n, in.Tests)
		}
		got, _ := s.TestRuns(ctx, TestRunQuery{})
		total := 0
		for _, r := range got {
			if r.IngestID == in.ID {
				total++
			}
		}
		if total != n {
			t.Errorf("ingest of %d runs stored %d", n, total)
		}
	}
}

func TestBotTotals(t *testing.T) { eachBackend(t, testBotTotals) }

func testBotTotals(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	run := func(release int, target string, passed bool, cost float64, cur string, at time.Duration) BotRun {
		return BotRun{App: "shop", Release: release, Target: target, Scenario: "book", Passed: passed,
			CostAmount: cost, CostCurrency: cur, Started: start.Add(at), Duration: time.Second}
	}
	if err := s.RecordBotRuns(ctx, []BotRun{
		run(1, TargetLive, true, 0, "", 0),
		run(1, TargetLive, false, 40, "EUR", time.Minute), // a failure in production is no catch
		run(2, TargetCandidate, false, 40, "EUR", 2*time.Minute),
		run(2, TargetCandidate, false, 40, "EUR", 3*time.Minute),
		run(3, TargetCandidate, true, 0, "", 4*time.Minute),
		run(4, TargetCandidate, false, 40, "EUR", 5*time.Minute),
		{App: "shop", Release: 4, Target: TargetLive, Scenario: "smoke", Passed: true, Started: start},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.BotTotals(ctx, BotRunQuery{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	want := []BotTotal{
		{App: "shop", Scenario: "book", Runs: 6, Failures: 4, Duration: 6 * time.Second, CaughtReleases: 2,
			CaughtCost: 120, CaughtCurrency: "EUR"},
		{App: "shop", Scenario: "smoke", Runs: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BotTotals =\n%+v\nwant\n%+v", got, want)
	}
	got, _ = s.BotTotals(ctx, BotRunQuery{Since: start.Add(150 * time.Second)})
	if len(got) != 1 || got[0].Runs != 3 || got[0].CaughtReleases != 2 || got[0].CaughtCost != 80 {
		t.Errorf("BotTotals since = %+v", got)
	}
}
