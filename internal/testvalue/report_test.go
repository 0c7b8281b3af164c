package testvalue

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// gitRepo is a real repository whose commits change code, tests or both.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "--quiet", "--initial-branch=main")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", g.dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content) and commits them, returning the SHA.
func (g *gitRepo) commit(files map[string]string) string {
	g.t.Helper()
	for p, body := range files {
		full := filepath.Join(g.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git("add", "-A")
	g.git("commit", "--quiet", "--allow-empty", "-m", "change")
	return g.git("rev-parse", "HEAD")
}

// history builds ingests and runs from a compact description: one ingest per
// step, at a commit, each with a wall time, one run of each named test.
type step struct {
	commit string
	wall   time.Duration
	runs   map[string]string // test name → outcome
	dur    time.Duration     // each run's duration
}

func history(app string, steps []step) ReportInput {
	var in ReportInput
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var runID int64
	for i, s := range steps {
		ing := store.TestIngest{ID: int64(i + 1), App: app, Commit: s.commit, Format: "go", Wall: s.wall,
			RanAt: start.Add(time.Duration(i) * time.Hour)}
		in.Ingests = append(in.Ingests, ing)
		for name, outcome := range s.runs {
			runID++
			in.Runs = append(in.Runs, store.TestRun{ID: runID, IngestID: ing.ID, App: app, Commit: s.commit,
				Name: name, Outcome: outcome, Duration: s.dur, RanAt: ing.RanAt, Message: "boom"})
		}
	}
	return in
}

func TestReportDefinitions(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit(map[string]string{"add.go": "v1", "add_test.go": "t1"})
	c2 := repo.commit(map[string]string{"add.go": "v2 broken"})
	c3 := repo.commit(map[string]string{"add.go": "v3 fixed"})
	c4 := repo.commit(map[string]string{"add_test.go": "t2 wrong"})
	c5 := repo.commit(map[string]string{"add_test.go": "t3 right", "testdata/golden.txt": "g"})
	c6 := repo.commit(nil) // no change at all
	unknown := strings.Repeat("ab", 20)
	git := GitDiff{Repo: func(app string) string { return repo.dir }}

	const T = "example.com/notes.TestAdd"
	one := func(commit, outcome string) step {
		return step{commit: commit, runs: map[string]string{T: outcome}, dur: time.Second}
	}
	tests := []struct {
		name  string
		steps []step
		git   ChangedFiles
		want  Entry // only the fields below are compared
	}{
		{"flaky on one commit is no catch", []step{one(c1, Pass), one(c2, Fail), one(c2, Pass), one(c3, Pass)}, git,
			Entry{Runs: 4, Failures: 1, Flaky: true, FlakyCommits: 1, FlakeRate: 2.0 / 3}},
		{"real catch: the code changed", []step{one(c1, Pass), one(c2, Fail), one(c3, Pass)}, git,
			Entry{Runs: 3, Failures: 1, FlakeRate: 1, RealCatches: 1}},
		{"several failing commits are one catch, judged from the last", []step{one(c1, Fail), one(c2, Fail), one(c3, Pass)}, git,
			Entry{Runs: 3, Failures: 2, FlakeRate: 0.5, RealCatches: 1}},
		{"test-only fix", []step{one(c3, Pass), one(c4, Fail), one(c5, Pass)}, git,
			Entry{Runs: 3, Failures: 1, FlakeRate: 1, TestFixes: 1}},
		{"a pass with no change fixes nothing", []step{one(c5, Fail), one(c6, Pass)}, git,
			Entry{Runs: 2, Failures: 1, FlakeRate: 1}},
		{"unknown commit", []step{one(unknown, Fail), one(c3, Pass)}, git,
			Entry{Runs: 2, Failures: 1, FlakeRate: 1, UnknownCatches: 1}},
		{"no repository", []step{one(c1, Pass), one(c2, Fail), one(c3, Pass)}, nil,
			Entry{Runs: 3, Failures: 1, FlakeRate: 1, UnknownCatches: 1}},
		{"still failing", []step{one(c1, Pass), one(c2, Fail), one(c3, Fail)}, git,
			Entry{Runs: 3, Failures: 2, FlakeRate: 0.5, FailingNow: true}},
		{"skips count apart", []step{one(c1, Pass), one(c2, Skip), one(c3, Pass)}, git,
			Entry{Runs: 2, Skipped: 1}},
		{"flip rate over history", []step{one(c1, Pass), one(c2, Pass), one(c3, Pass), one(c4, Fail), one(c5, Pass)}, git,
			Entry{Runs: 5, Failures: 1, FlakeRate: 0.5, TestFixes: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := Report(context.Background(), history("notes", tc.steps), tc.git)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("entries: %+v", entries)
			}
			e := entries[0]
			if e.Kind != KindTest || e.App != "notes" || e.Name != T {
				t.Errorf("entry is %s %s %s", e.Kind, e.App, e.Name)
			}
			w := tc.want
			if e.Runs != w.Runs || e.Failures != w.Failures || e.Skipped != w.Skipped || e.Flaky != w.Flaky ||
				e.FlakyCommits != w.FlakyCommits || math.Abs(e.FlakeRate-w.FlakeRate) > 1e-9 ||
				e.RealCatches != w.RealCatches || e.TestFixes != w.TestFixes || e.UnknownCatches != w.UnknownCatches ||
				e.FailingNow != w.FailingNow {
				t.Errorf("got  runs %d failures %d skipped %d flaky %v/%d flip %.3f catches %d/%d/%d failing %v\nwant runs %d failures %d skipped %d flaky %v/%d flip %.3f catches %d/%d/%d failing %v",
					e.Runs, e.Failures, e.Skipped, e.Flaky, e.FlakyCommits, e.FlakeRate, e.RealCatches, e.TestFixes, e.UnknownCatches, e.FailingNow,
					w.Runs, w.Failures, w.Skipped, w.Flaky, w.FlakyCommits, w.FlakeRate, w.RealCatches, w.TestFixes, w.UnknownCatches, w.FailingNow)
			}
			if w.Runs > 0 && math.Abs(e.FailureRate-float64(w.Failures)/float64(w.Runs)) > 1e-9 {
				t.Errorf("failure rate %.3f", e.FailureRate)
			}
		})
	}
}

func TestWaitShares(t *testing.T) {
	ingests := []store.TestIngest{
		{ID: 1, Wall: time.Minute},
		{ID: 2},                        // no wall: the top-level runs' sum
		{ID: 3, Wall: 9 * time.Second}, // no durations: equal shares of the top level
	}
	runs := []store.TestRun{
		{ID: 1, IngestID: 1, Name: "p.TestA", Duration: 3 * time.Second},
		{ID: 2, IngestID: 1, Name: "p.TestA/x", Duration: time.Second},
		{ID: 3, IngestID: 1, Name: "p.TestA/y", Duration: 2 * time.Second},
		{ID: 4, IngestID: 1, Name: "p.TestB", Duration: time.Second},
		{ID: 5, IngestID: 2, Name: "p.TestA", Duration: 3 * time.Second},
		{ID: 6, IngestID: 2, Name: "p.TestA/x", Duration: 3 * time.Second},
		{ID: 7, IngestID: 3, Name: "a"},
		{ID: 8, IngestID: 3, Name: "b"},
		{ID: 9, IngestID: 3, Name: "b/c"},
		{ID: 10, IngestID: 3, Name: "d"},
	}
	got := waitShares(ingests, runs)
	want := map[int64]time.Duration{1: 45 * time.Second, 2: 15 * time.Second, 3: 30 * time.Second, 4: 15 * time.Second,
		5: 3 * time.Second, 6: 3 * time.Second, 7: 3 * time.Second, 8: 3 * time.Second, 9: 0, 10: 3 * time.Second}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("run %d: share %s, want %s", id, got[id], w)
		}
	}
}

func TestReportRanksCostAgainstValue(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit(map[string]string{"a.go": "1"})
	c2 := repo.commit(map[string]string{"a.go": "2"})
	c3 := repo.commit(map[string]string{"a.go": "3"})
	c4 := repo.commit(map[string]string{"a.go": "4"})
	c5 := repo.commit(map[string]string{"a.go": "5"})
	git := GitDiff{Repo: func(string) string { return repo.dir }}

	// Each ingest's wall is shared by duration: Haunted 10 s, Slow 5 s, Cheap
	// 1 s, Catcher 4 s and Twice 8 s a run, 28 s in all.
	outcomes := []map[string]string{
		{"Haunted": Pass, "Slow": Pass, "Cheap": Pass, "Catcher": Pass, "Twice": Pass},
		{"Haunted": Pass, "Slow": Pass, "Cheap": Pass, "Catcher": Fail, "Twice": Fail},
		{"Haunted": Pass, "Slow": Pass, "Cheap": Pass, "Catcher": Pass, "Twice": Pass},
		{"Haunted": Pass, "Slow": Pass, "Cheap": Pass, "Catcher": Pass, "Twice": Fail},
		{"Haunted": Pass, "Slow": Pass, "Cheap": Pass, "Catcher": Pass, "Twice": Pass},
	}
	durs := map[string]time.Duration{"Haunted": 10 * time.Second, "Slow": 5 * time.Second, "Cheap": time.Second,
		"Catcher": 4 * time.Second, "Twice": 8 * time.Second}
	var in ReportInput
	for i, c := range []string{c1, c2, c3, c4, c5} {
		ing := store.TestIngest{ID: int64(i + 1), App: "notes", Commit: c, Wall: 28 * time.Second,
			RanAt: time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC)}
		in.Ingests = append(in.Ingests, ing)
		for name, o := range outcomes[i] {
			in.Runs = append(in.Runs, store.TestRun{ID: int64(len(in.Runs) + 1), IngestID: ing.ID, App: "notes",
				Commit: c, Name: name, Outcome: o, Duration: durs[name], RanAt: ing.RanAt})
		}
	}
	in.Bots = []store.BotTotal{{App: "notes", Scenario: "book a room", Runs: 1000, Failures: 30,
		Duration: 100 * time.Second, CaughtReleases: 2, CaughtCost: 1200, CaughtCurrency: "EUR"}}
	entries, err := Report(context.Background(), in, git)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range entries {
		order = append(order, e.Name)
	}
	// No catch, costliest first; then cost per catch: Catcher 20 s, Twice 20 s
	// (40 s for 2) — tied, by name; the bot, which nobody waits for, last.
	if got, want := strings.Join(order, ","), "Haunted,Slow,Cheap,Catcher,Twice,book a room"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	if e := byName["Haunted"]; e.CostSeconds != 50 || e.WaitSeconds != 50 || e.MachineSeconds != 50 || e.CostPerCatchSeconds != nil {
		t.Errorf("Haunted: cost %v wait %v machine %v per catch %v", e.CostSeconds, e.WaitSeconds, e.MachineSeconds, e.CostPerCatchSeconds)
	}
	if e := byName["Twice"]; e.RealCatches != 2 || e.CostPerCatchSeconds == nil || *e.CostPerCatchSeconds != 20 {
		t.Errorf("Twice: %+v", e)
	}
	if e := byName["Twice"]; e.Sentence != "90 days: 40 s of waiting, 2 real catches, never flaky" {
		t.Errorf("Twice's sentence: %q", e.Sentence)
	}
	b := byName["book a room"]
	if b.Kind != KindBot || b.RealCatches != 2 || b.CaughtCost != 1200 || b.MachineSeconds != 100 || b.CostSeconds != 0 ||
		b.Sentence != "90 days: 1000 runs in mirror production, 2 releases caught before production, failures worth 1200 EUR avoided" {
		t.Errorf("bot entry: %+v", b)
	}
}

func TestReportSentenceOfAHauntedTest(t *testing.T) {
	// Ten suite runs of 1.4 h each at one commit, where the test passed, failed
	// and passed again: 14 h of waiting, 2 flips in 9 steps.
	var steps []step
	for i, o := range []string{Pass, Fail, Pass, Pass, Pass, Pass, Pass, Pass, Pass, Pass} {
		_ = i
		steps = append(steps, step{commit: "abcd", wall: 84 * time.Minute, runs: map[string]string{"p.TestHaunted": o}, dur: time.Minute})
	}
	entries, err := Report(context.Background(), history("notes", steps), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entries[0].Sentence, "90 days: 14 h of waiting, 0 real catches, flaky 22%"; got != want {
		t.Errorf("sentence %q, want %q", got, want)
	}
	in := history("notes", steps)
	in.Window = 7 * 24 * time.Hour
	entries, _ = Report(context.Background(), in, nil)
	if !strings.HasPrefix(entries[0].Sentence, "7 days: ") {
		t.Errorf("sentence of a week: %q", entries[0].Sentence)
	}
}

func TestIsTestFile(t *testing.T) {
	for p, want := range map[string]bool{
		"add_test.go": true, "internal/store/store_test.go": true, "internal/store/store.go": false,
		"internal/x/testdata/golden.json": true, "tests/test_cart.py": true, "app/test_utils.py": true,
		"app/cart_test.py": true, "app/cart.py": false, "conftest.py": true, "src/cart.test.ts": true,
		"src/cart.spec.js": true, "src/cart.ts": false, "src/__tests__/cart.js": true,
		"src/test/java/com/x/CartTest.java": true, "src/main/java/com/x/Cart.java": false,
		"CartIT.java": true, "spec/cart_spec.rb": true, "lib/cart.rb": false, "README.md": false,
		"go.mod": false, "latest.go": false, "contest.py": false,
	} {
		if got := IsTestFile(p); got != want {
			t.Errorf("IsTestFile(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestGitDiffRefusesWhatIsNotASHA(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit(map[string]string{"a.go": "1"})
	g := GitDiff{Repo: func(string) string { return repo.dir }}
	for _, bad := range []string{"--output=/tmp/x", "HEAD~1", "", "main"} {
		if _, err := g.ChangedFiles(context.Background(), "a", bad, c1); err == nil {
			t.Errorf("ChangedFiles(%q) did not fail", bad)
		}
	}
	c2 := repo.commit(map[string]string{"b.go": "1", "a.go": "2"})
	files, err := g.ChangedFiles(context.Background(), "a", c1, c2)
	if err != nil || strings.Join(files, ",") != "a.go,b.go" {
		t.Errorf("ChangedFiles = %v, %v", files, err)
	}
}

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultWindow, "90d": DefaultWindow, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"90", "d", "-3d", "0d", "yesterday", "1.5d"} {
		if _, err := ParseWindow(bad); err == nil || !strings.Contains(err.Error(), "write it like 90d") {
			t.Errorf("ParseWindow(%q) = %v", bad, err)
		}
	}
}
