package testvalue

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

// Kinds of report entries.
const (
	KindTest = "test"
	KindBot  = "bot"
)

// DefaultWindow is the report's window when none is asked for.
const DefaultWindow = 90 * 24 * time.Hour

// ChangedFiles lists the files that differ between two commits of an app, to
// tell a fix of the code from a fix of the test. The server answers it from the
// app's git repository; an error (such as a commit the repository does not
// have) makes the catch "unknown".
type ChangedFiles interface {
	ChangedFiles(ctx context.Context, app, from, to string) ([]string, error)
}

// Entry is one line of the report: a test, or a bot journey of mirror
// production beside the tests.
type Entry struct {
	Kind        string  `json:"kind"` // KindTest or KindBot
	App         string  `json:"app"`
	Name        string  `json:"name"`
	Runs        int     `json:"runs"` // passed and failed runs; skipped ones are apart
	Failures    int     `json:"failures"`
	Skipped     int     `json:"skipped"`
	FailureRate float64 `json:"failure_rate"` // failures ÷ runs
	// Flaky is true when the test failed and passed on the same commit, on
	// FlakyCommits commits.
	Flaky        bool `json:"flaky"`
	FlakyCommits int  `json:"flaky_commits"`
	// FlakeRate is the flip rate: changes of outcome (pass→fail or fail→pass)
	// between consecutive runs ÷ (runs − 1).
	FlakeRate      float64 `json:"flake_rate"`
	MachineSeconds float64 `json:"machine_seconds"` // sum of the runs' durations
	WaitSeconds    float64 `json:"wait_seconds"`    // the test's share of the time people waited
	CostSeconds    float64 `json:"cost_seconds"`    // = WaitSeconds: the cost the report ranks by
	// RealCatches counts failures fixed by a change to code other than tests.
	RealCatches int `json:"real_catches"`
	// TestFixes counts failures that ended with a change to test files only.
	TestFixes int `json:"test_fixes"`
	// UnknownCatches counts failures whose fix could not be looked at (a commit
	// the app's repository does not have); they are not counted as catches.
	UnknownCatches int `json:"unknown_catches"`
	// FailingNow is true when the newest run failed (its episode is still open).
	FailingNow bool `json:"failing_now"`
	// CostPerCatchSeconds is CostSeconds ÷ RealCatches; absent with no catch.
	CostPerCatchSeconds *float64 `json:"cost_per_catch_seconds,omitempty"`
	// CaughtCost is, for a bot, the cost_of_failure of its failed runs on
	// candidates: what its catches would have cost in production.
	CaughtCost     float64    `json:"caught_cost,omitempty"`
	CaughtCurrency string     `json:"caught_currency,omitempty"`
	LastFailure    *time.Time `json:"last_failure,omitempty"`
	LastMessage    string     `json:"last_message,omitempty"`
	Sentence       string     `json:"sentence"`
}

// ReportInput is the history a report is computed from.
type ReportInput struct {
	Window  time.Duration // for the sentences; DefaultWindow when zero
	Ingests []store.TestIngest
	Runs    []store.TestRun
	Bots    []store.BotTotal
}

// Report weighs each test of in against what it caught, and ranks the entries
// cost against value: first the tests with no real catch, costliest first, then
// the others by cost per real catch, highest first. git (which may be nil: every
// catch is then unknown) tells code fixes from test fixes; its answers are cached
// per pair of commits.
func Report(ctx context.Context, in ReportInput, git ChangedFiles) ([]Entry, error) {
	window := in.Window
	if window <= 0 {
		window = DefaultWindow
	}
	waits := waitShares(in.Ingests, in.Runs)
	runs := slices.Clone(in.Runs)
	slices.SortStableFunc(runs, func(a, b store.TestRun) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Name, b.Name), a.RanAt.Compare(b.RanAt), cmp.Compare(a.ID, b.ID))
	})
	c := &catcher{git: git, cache: map[[3]string]catchKind{}}
	entries := []Entry{}
	for len(runs) > 0 {
		n := 1
		for n < len(runs) && runs[n].App == runs[0].App && runs[n].Name == runs[0].Name {
			n++
		}
		e, err := testEntry(ctx, runs[:n], waits, c)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
		runs = runs[n:]
	}
	for _, b := range in.Bots {
		entries = append(entries, botEntry(b))
	}
	for i := range entries {
		e := &entries[i]
		e.CostSeconds = e.WaitSeconds
		if e.RealCatches > 0 {
			per := e.CostSeconds / float64(e.RealCatches)
			e.CostPerCatchSeconds = &per
		}
		e.Sentence = sentence(*e, window)
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		if (a.RealCatches == 0) != (b.RealCatches == 0) {
			if a.RealCatches == 0 {
				return -1
			}
			return 1
		}
		if a.RealCatches == 0 {
			return cmp.Or(cmp.Compare(b.CostSeconds, a.CostSeconds), cmp.Compare(a.Kind, b.Kind),
				cmp.Compare(a.App, b.App), cmp.Compare(a.Name, b.Name))
		}
		return cmp.Or(cmp.Compare(*b.CostPerCatchSeconds, *a.CostPerCatchSeconds), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.App, b.App), cmp.Compare(a.Name, b.Name))
	})
	return entries, nil
}

// waitShares shares each ingest's waiting time among its runs in proportion to
// their durations, and returns each run's share by run ID. The waiting time is
// the ingest's Wall (the CI's wall time, or the suite's own elapsed time) and,
// when it is zero, the sum of its top-level runs' durations. Subtests run inside
// their parent ("TestX/sub" inside "TestX"), so shares are taken of the
// top-level runs' total: a parent's share holds its subtests', as its duration
// does. When no run has a duration, top-level runs share the wait equally.
func waitShares(ingests []store.TestIngest, runs []store.TestRun) map[int64]time.Duration {
	byIngest := map[int64][]store.TestRun{}
	for _, r := range runs {
		byIngest[r.IngestID] = append(byIngest[r.IngestID], r)
	}
	shares := make(map[int64]time.Duration, len(runs))
	for _, in := range ingests {
		rs := byIngest[in.ID]
		names := make(map[string]bool, len(rs))
		for _, r := range rs {
			names[r.Name] = true
		}
		var total time.Duration
		top := 0
		isTop := make([]bool, len(rs))
		for i, r := range rs {
			if topLevel(r.Name, names) {
				isTop[i] = true
				total += r.Duration
				top++
			}
		}
		wait := in.Wall
		if wait <= 0 {
			wait = total
		}
		for i, r := range rs {
			switch {
			case total > 0:
				shares[r.ID] = time.Duration(float64(wait) * float64(r.Duration) / float64(total))
			case isTop[i]:
				shares[r.ID] = wait / time.Duration(top)
			}
		}
	}
	return shares
}

// topLevel reports whether name is not a subtest of another name of the set.
func topLevel(name string, names map[string]bool) bool {
	for i := range len(name) {
		if name[i] == '/' && names[name[:i]] {
			return false
		}
	}
	return true
}

// testEntry sums up the history of one test, runs in order.
func testEntry(ctx context.Context, runs []store.TestRun, waits map[int64]time.Duration, c *catcher) (Entry, error) {
	e := Entry{Kind: KindTest, App: runs[0].App, Name: runs[0].Name}
	type seen struct{ pass, fail bool }
	commits := map[string]*seen{}
	var machine, wait time.Duration
	for _, r := range runs {
		machine += r.Duration
		wait += waits[r.ID]
		s := commits[r.Commit]
		if s == nil {
			s = &seen{}
			commits[r.Commit] = s
		}
		switch r.Outcome {
		case store.TestPass:
			e.Runs++
			s.pass = true
		case store.TestFail:
			e.Runs++
			e.Failures++
			s.fail = true
			t := r.RanAt
			e.LastFailure, e.LastMessage = &t, r.Message
		default:
			e.Skipped++
		}
	}
	for _, s := range commits {
		if s.pass && s.fail {
			e.FlakyCommits++
		}
	}
	e.Flaky = e.FlakyCommits > 0
	e.MachineSeconds, e.WaitSeconds = machine.Seconds(), wait.Seconds()
	if e.Runs > 0 {
		e.FailureRate = float64(e.Failures) / float64(e.Runs)
	}

	// Flips, and failure episodes: a failure at a commit where the test never
	// passed opens one (a failure on a commit where it also passed is a flake,
	// not a catch); the next pass at another commit closes it, and the change
	// from the episode's last failing commit to that one is what fixed it.
	flips, last, prev := 0, "", ""
	failing := ""
	for _, r := range runs {
		if r.Outcome != store.TestPass && r.Outcome != store.TestFail {
			continue
		}
		if prev != "" && r.Outcome != prev {
			flips++
		}
		prev = r.Outcome
		last = r.Outcome
		switch {
		case r.Outcome == store.TestFail && !commits[r.Commit].pass:
			failing = r.Commit
		case r.Outcome == store.TestPass && failing != "" && r.Commit != failing:
			kind, err := c.judge(ctx, e.App, failing, r.Commit)
			if err != nil {
				return Entry{}, err
			}
			switch kind {
			case catchReal:
				e.RealCatches++
			case catchTestFix:
				e.TestFixes++
			case catchUnknown:
				e.UnknownCatches++
			}
			failing = ""
		}
	}
	if e.Runs > 1 {
		e.FlakeRate = float64(flips) / float64(e.Runs-1)
	}
	e.FailingNow = last == store.TestFail
	return e, nil
}

func botEntry(b store.BotTotal) Entry {
	e := Entry{Kind: KindBot, App: b.App, Name: b.Scenario, Runs: b.Runs, Failures: b.Failures,
		MachineSeconds: b.Duration.Seconds(), RealCatches: b.CaughtReleases,
		CaughtCost: b.CaughtCost, CaughtCurrency: b.CaughtCurrency}
	if b.Runs > 0 {
		e.FailureRate = float64(b.Failures) / float64(b.Runs)
	}
	return e
}

// sentence says what an entry costs and caught, in words.
func sentence(e Entry, window time.Duration) string {
	span := humanWindow(window)
	if e.Kind == KindBot {
		s := fmt.Sprintf("%s: %d runs in mirror production, %s before production", span, e.Runs,
			plural(e.RealCatches, "release caught", "releases caught"))
		if e.CaughtCost > 0 {
			s += fmt.Sprintf(", failures worth %s %s avoided", strconv.FormatFloat(e.CaughtCost, 'f', -1, 64), e.CaughtCurrency)
		}
		return s
	}
	s := fmt.Sprintf("%s: %s of waiting, %s", span, humanSeconds(e.WaitSeconds), plural(e.RealCatches, "real catch", "real catches"))
	if e.Flaky {
		s += fmt.Sprintf(", flaky %.0f%%", e.FlakeRate*100)
	} else {
		s += ", never flaky"
	}
	if e.TestFixes > 0 {
		s += ", " + plural(e.TestFixes, "failure fixed in the test only", "failures fixed in the test only")
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func humanWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day", "days")
	}
	return d.String()
}

// humanSeconds writes a cost the way a person reads it: 14 h, 25 min, 40 s.
func humanSeconds(s float64) string {
	switch {
	case s >= 3600:
		return strconv.FormatFloat(float64(int(s/360+0.5))/10, 'f', -1, 64) + " h"
	case s >= 60:
		return strconv.Itoa(int(s/60+0.5)) + " min"
	case s >= 10:
		return strconv.Itoa(int(s+0.5)) + " s"
	default:
		return strconv.FormatFloat(float64(int(s*10+0.5))/10, 'f', -1, 64) + " s"
	}
}

// ParseWindow reads a window such as 90d, 2w or a Go duration (36h).
func ParseWindow(s string) (time.Duration, error) {
	if s == "" {
		return DefaultWindow, nil
	}
	return api.ParseWindow(s)
}
