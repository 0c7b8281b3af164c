package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Test run outcomes.
const (
	TestPass = "pass"
	TestFail = "fail"
	TestSkip = "skip"
)

// TestIngest is one test report taken from a CI: the results of one suite run
// at one commit.
type TestIngest struct {
	ID     int64  `json:"id"`
	App    string `json:"app"`
	Commit string `json:"commit"`
	Format string `json:"format"`           // "go" or "junit"
	Source string `json:"source,omitempty"` // the CI or job it came from
	// Wall is how long people waited for the suite: the CI's wall time when
	// given, else the suite's own elapsed time.
	Wall       time.Duration `json:"wall_ns"`
	RanAt      time.Time     `json:"ran_at"`
	IngestedAt time.Time     `json:"ingested_at"`
	Tests      int           `json:"tests"` // distinct test names
}

// TestRun is one execution of one test in an ingest.
type TestRun struct {
	ID       int64         `json:"id"`
	IngestID int64         `json:"ingest_id"`
	App      string        `json:"app"`
	Commit   string        `json:"commit"`
	Name     string        `json:"name"`
	Outcome  string        `json:"outcome"` // TestPass, TestFail or TestSkip
	Duration time.Duration `json:"duration_ns"`
	RanAt    time.Time     `json:"ran_at"`
	Message  string        `json:"message,omitempty"`
}

// TestRunQuery selects test runs and ingests; zero fields do not filter.
type TestRunQuery struct {
	App   string
	Name  string    // runs only
	Since time.Time // ran at or after Since
	Until time.Time // ran before Until
}

// RecordTestIngest stores an ingest and its runs in one transaction: all or
// none. The ingest needs an existing app (ErrNotFound), a commit, a format of
// "go" or "junit" and a non-negative wall time; each run a name, an outcome of
// TestPass, TestFail or TestSkip and a non-negative duration (ErrInvalid). A
// zero RanAt is now; runs take the ingest's app, commit and, when they have
// none, its RanAt. It returns the ingest as stored, with its ID and Tests.
func (s *Store) RecordTestIngest(ctx context.Context, in TestIngest, runs []TestRun) (TestIngest, error) {
	switch {
	case in.Commit == "":
		return TestIngest{}, fmt.Errorf("record tests of app %q: no commit: %w", in.App, ErrInvalid)
	case in.Format != "go" && in.Format != "junit":
		return TestIngest{}, fmt.Errorf("record tests of app %q: format %q: want go or junit: %w", in.App, in.Format, ErrInvalid)
	case in.Wall < 0:
		return TestIngest{}, fmt.Errorf("record tests of app %q: negative wall time %s: %w", in.App, in.Wall, ErrInvalid)
	}
	names := make(map[string]struct{}, len(runs))
	for _, r := range runs {
		switch {
		case r.Name == "":
			return TestIngest{}, fmt.Errorf("record tests of app %q: a run without a name: %w", in.App, ErrInvalid)
		case r.Outcome != TestPass && r.Outcome != TestFail && r.Outcome != TestSkip:
			return TestIngest{}, fmt.Errorf("record tests of app %q: %s: outcome %q: want pass, fail or skip: %w", in.App, r.Name, r.Outcome, ErrInvalid)
		case r.Duration < 0:
			return TestIngest{}, fmt.Errorf("record tests of app %q: %s: negative duration: %w", in.App, r.Name, ErrInvalid)
		}
		names[r.Name] = struct{}{}
	}
	in.IngestedAt = s.nowUTC()
	if in.RanAt.IsZero() {
		in.RanAt = in.IngestedAt
	}
	in.RanAt = in.RanAt.UTC().Round(0)
	in.Tests = len(names)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := appExists(ctx, tx, in.App); err != nil {
			return fmt.Errorf("app %q: %w", in.App, err)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO test_ingests (app, commit_sha, format, source, wall_ns, ran_at,
	ingested_at, tests) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			in.App, in.Commit, in.Format, in.Source, int64(in.Wall), toNanos(in.RanAt), toNanos(in.IngestedAt),
			in.Tests).Scan(&in.ID); err != nil {
			return err
		}
		return insertTestRuns(ctx, tx, in, runs)
	})
	if err != nil {
		return TestIngest{}, fmt.Errorf("record tests of app %q at %s: %w", in.App, in.Commit, err)
	}
	return in, nil
}

// testRunBatch is how many runs one INSERT carries: a report has tens of
// thousands, and one statement per row would be most of the ingest's time.
const testRunBatch = 100

func insertTestRuns(ctx context.Context, tx *sql.Tx, in TestIngest, runs []TestRun) error {
	const cols = 8
	var stmt *sql.Stmt
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	args := make([]any, 0, testRunBatch*cols)
	for len(runs) > 0 {
		n := min(len(runs), testRunBatch)
		if stmt == nil || n < testRunBatch {
			if stmt != nil {
				stmt.Close()
			}
			var err error
			if stmt, err = tx.PrepareContext(ctx, testRunInsert(n, cols)); err != nil {
				return err
			}
		}
		args = args[:0]
		for _, r := range runs[:n] {
			ranAt := toNanos(r.RanAt)
			if ranAt == 0 {
				ranAt = toNanos(in.RanAt)
			}
			args = append(args, in.ID, in.App, in.Commit, r.Name, r.Outcome, int64(r.Duration), ranAt, r.Message)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert test runs: %w", err)
		}
		runs = runs[n:]
	}
	return nil
}

func testRunInsert(rows, cols int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO test_runs (ingest_id, app, commit_sha, name, outcome, duration_ns, ran_at, message) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", i*cols+c+1)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// TestIngests returns the ingests q selects (Name is ignored), oldest first.
func (s *Store) TestIngests(ctx context.Context, q TestRunQuery) ([]TestIngest, error) {
	where, args := testFilter(TestRunQuery{App: q.App, Since: q.Since, Until: q.Until})
	rows, err := s.r.QueryContext(ctx, `SELECT id, app, commit_sha, format, source, wall_ns, ran_at, ingested_at, tests
FROM test_ingests`+where+` ORDER BY ran_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query test ingests: %w", err)
	}
	defer rows.Close()
	list := []TestIngest{}
	for rows.Next() {
		var in TestIngest
		var wall, ranAt, ingestedAt int64
		if err := rows.Scan(&in.ID, &in.App, &in.Commit, &in.Format, &in.Source, &wall, &ranAt, &ingestedAt, &in.Tests); err != nil {
			return nil, fmt.Errorf("query test ingests: %w", err)
		}
		in.Wall, in.RanAt, in.IngestedAt = time.Duration(wall), fromNanos(ranAt), fromNanos(ingestedAt)
		list = append(list, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query test ingests: %w", err)
	}
	return list, nil
}

// TestRuns returns the runs q selects, ordered by app, name, time and ID: each
// test's history in order.
func (s *Store) TestRuns(ctx context.Context, q TestRunQuery) ([]TestRun, error) {
	where, args := testFilter(q)
	rows, err := s.r.QueryContext(ctx, `SELECT id, ingest_id, app, commit_sha, name, outcome, duration_ns, ran_at, message
FROM test_runs`+where+` ORDER BY app, name, ran_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query test runs: %w", err)
	}
	defer rows.Close()
	list := []TestRun{}
	for rows.Next() {
		var r TestRun
		var dur, ranAt int64
		if err := rows.Scan(&r.ID, &r.IngestID, &r.App, &r.Commit, &r.Name, &r.Outcome, &dur, &ranAt, &r.Message); err != nil {
			return nil, fmt.Errorf("query test runs: %w", err)
		}
		r.Duration, r.RanAt = time.Duration(dur), fromNanos(ranAt)
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query test runs: %w", err)
	}
	return list, nil
}

func testFilter(q TestRunQuery) (string, []any) {
	var f filter
	if q.App != "" {
		f.where("app = " + f.arg(q.App))
	}
	if q.Name != "" {
		f.where("name = " + f.arg(q.Name))
	}
	if !q.Since.IsZero() {
		f.where("ran_at >= " + f.arg(q.Since.UnixNano()))
	}
	if !q.Until.IsZero() {
		f.where("ran_at < " + f.arg(q.Until.UnixNano()))
	}
	return f.clause(), f.args
}

// BotTotal sums up one bot scenario's runs over all releases, as the test
// report shows it beside the tests.
type BotTotal struct {
	App      string        `json:"app"`
	Scenario string        `json:"scenario"`
	Runs     int           `json:"runs"`
	Failures int           `json:"failures"`
	Duration time.Duration `json:"duration_ns"` // machine time of all runs
	// CaughtReleases counts the candidate releases the scenario failed on:
	// bugs caught before production.
	CaughtReleases int `json:"caught_releases"`
	// CaughtCost sums the cost_of_failure of the failed candidate runs, in
	// CaughtCurrency ("mixed" when they carry several).
	CaughtCost     float64 `json:"caught_cost"`
	CaughtCurrency string  `json:"caught_currency,omitempty"`
}

// BotTotals returns one BotTotal per app and scenario of the runs q selects
// (only App, Since and Until filter), ordered by app and scenario.
func (s *Store) BotTotals(ctx context.Context, q BotRunQuery) ([]BotTotal, error) {
	where, args := botRunFilter(BotRunQuery{App: q.App, Since: q.Since, Until: q.Until})
	rows, err := s.r.QueryContext(ctx, `SELECT app, scenario, COUNT(*),
	SUM(CASE WHEN passed THEN 0 ELSE 1 END),
	SUM(duration_ns),
	COUNT(DISTINCT CASE WHEN NOT passed AND target = 'candidate' THEN release_version END),
	SUM(CASE WHEN NOT passed AND target = 'candidate' THEN cost_amount ELSE 0 END),
	MIN(CASE WHEN NOT passed AND target = 'candidate' AND cost_currency <> '' THEN cost_currency END),
	MAX(CASE WHEN NOT passed AND target = 'candidate' AND cost_currency <> '' THEN cost_currency END)
FROM bot_runs`+where+` GROUP BY app, scenario ORDER BY app, scenario`, args...)
	if err != nil {
		return nil, fmt.Errorf("bot totals: %w", err)
	}
	defer rows.Close()
	list := []BotTotal{}
	for rows.Next() {
		var b BotTotal
		var dur int64
		var curMin, curMax sql.NullString
		if err := rows.Scan(&b.App, &b.Scenario, &b.Runs, &b.Failures, &dur, &b.CaughtReleases, &b.CaughtCost,
			&curMin, &curMax); err != nil {
			return nil, fmt.Errorf("bot totals: %w", err)
		}
		b.Duration = time.Duration(dur)
		b.CaughtCurrency = curMin.String
		if curMin.String != curMax.String {
			b.CaughtCurrency = "mixed"
		}
		list = append(list, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bot totals: %w", err)
	}
	return list, nil
}
