package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Bot run targets: which release a run's answers came from.
const (
	// TargetLive is the live release, reached through the router.
	TargetLive = "live"
	// TargetCandidate is the release under verification, which saw the run's
	// requests mirrored to it.
	TargetCandidate = "candidate"
)

// BotRun is one run of a synthetic customer (a bot journey) against one
// release. Runs are many (a bot every 2 s is 43k a day per scenario), so they
// are written in batches and pruned.
type BotRun struct {
	ID           int64         `json:"id"`
	App          string        `json:"app"`
	Release      int           `json:"release"` // the release the run judged
	Target       string        `json:"target"`  // TargetLive or TargetCandidate
	Scenario     string        `json:"scenario"`
	File         string        `json:"file,omitempty"`
	Passed       bool          `json:"passed"`
	FailedStep   int           `json:"failed_step"` // index, -1 when passed
	StepName     string        `json:"step_name,omitempty"`
	Reason       string        `json:"reason,omitempty"`
	CostAmount   float64       `json:"cost_amount,omitempty"` // cost_of_failure of a failed run
	CostCurrency string        `json:"cost_currency,omitempty"`
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration_ns"`
}

// BotRunQuery selects bot runs; zero fields do not filter.
type BotRunQuery struct {
	App        string
	Release    int
	Target     string
	Scenario   string
	FailedOnly bool      // only failed runs
	Since      time.Time // runs started at or after Since
	Until      time.Time // runs started before Until
	Limit      int       // at most Limit rows, the newest; all when <= 0
}

// BotSummary sums up the runs of one scenario against one release and target.
type BotSummary struct {
	App      string `json:"app"`
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Release  int    `json:"release"`
	Runs     int    `json:"runs"`
	Failures int    `json:"failures"`
	// Cost is the sum of the failed runs' costs, in Currency. The runs of one
	// release share their scenario's cost_of_failure, so a group has one
	// currency; should its failures carry several anyway, Cost still adds their
	// amounts and Currency is "mixed" so that no reader takes the sum as money.
	Cost        float64    `json:"cost,omitempty"`
	Currency    string     `json:"currency,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"` // start of the newest failed run
	LastReason  string     `json:"last_reason,omitempty"`  // its reason
}

// RecordBotRuns stores a batch of runs in one transaction: all or none. Started
// defaults to now and a passed run's FailedStep is -1. Each run needs an
// existing app (ErrNotFound), a scenario, a target of TargetLive or
// TargetCandidate and a non-negative release and duration (ErrInvalid). The
// runs' IDs are assigned by the store and not returned.
func (s *Store) RecordBotRuns(ctx context.Context, runs []BotRun) error {
	if len(runs) == 0 {
		return nil
	}
	for _, r := range runs {
		if err := validBotRun(r); err != nil {
			return fmt.Errorf("record bot runs of app %q: %w", r.App, err)
		}
	}
	now := toNanos(s.nowUTC())
	err := s.write(ctx, func(tx *sql.Tx) error {
		checked := map[string]bool{}
		for _, r := range runs {
			if !checked[r.App] {
				if err := appExists(ctx, tx, r.App); err != nil {
					return fmt.Errorf("app %q: %w", r.App, err)
				}
				checked[r.App] = true
			}
		}
		// One statement prepared for the batch: batches are hundreds of rows.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO bot_runs (app, release_version, target, scenario,
	file, passed, failed_step, step_name, reason, cost_amount, cost_currency, started, duration_ns)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range runs {
			started := toNanos(r.Started)
			if started == 0 {
				started = now
			}
			failedStep := r.FailedStep
			if r.Passed {
				failedStep = -1
			}
			if _, err := stmt.ExecContext(ctx, r.App, r.Release, r.Target, r.Scenario, r.File, r.Passed,
				failedStep, r.StepName, r.Reason, r.CostAmount, r.CostCurrency, started,
				int64(r.Duration)); err != nil {
				return fmt.Errorf("bot run of %s: %w", r.Scenario, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record bot runs: %w", err)
	}
	return nil
}

func validBotRun(r BotRun) error {
	switch {
	case r.Scenario == "":
		return fmt.Errorf("bot run without a scenario: %w", ErrInvalid)
	case r.Target != TargetLive && r.Target != TargetCandidate:
		return fmt.Errorf("bot run of %s: target %q: want %s or %s: %w",
			r.Scenario, r.Target, TargetLive, TargetCandidate, ErrInvalid)
	case r.Release < 0:
		return fmt.Errorf("bot run of %s: release %d: %w", r.Scenario, r.Release, ErrInvalid)
	case r.Duration < 0:
		return fmt.Errorf("bot run of %s: negative duration %s: %w", r.Scenario, r.Duration, ErrInvalid)
	}
	return nil
}

// BotRuns returns the runs q selects, newest first (by start time).
func (s *Store) BotRuns(ctx context.Context, q BotRunQuery) ([]BotRun, error) {
	where, args := botRunFilter(q)
	query := `SELECT id, app, release_version, target, scenario, file, passed, failed_step, step_name, reason,
	cost_amount, cost_currency, started, duration_ns FROM bot_runs` + where + ` ORDER BY started DESC, id DESC`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query bot runs: %w", err)
	}
	defer rows.Close()
	runs := []BotRun{}
	for rows.Next() {
		var r BotRun
		var started, duration int64
		if err := rows.Scan(&r.ID, &r.App, &r.Release, &r.Target, &r.Scenario, &r.File, &r.Passed,
			&r.FailedStep, &r.StepName, &r.Reason, &r.CostAmount, &r.CostCurrency, &started, &duration); err != nil {
			return nil, fmt.Errorf("query bot runs: %w", err)
		}
		r.Started = fromNanos(started)
		r.Duration = time.Duration(duration)
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query bot runs: %w", err)
	}
	return runs, nil
}

// BotSummaries sums up the runs q selects per app, scenario, target and
// release, ordered by app, newest release first, then scenario and target. A
// Limit caps the number of summaries.
func (s *Store) BotSummaries(ctx context.Context, q BotRunQuery) ([]BotSummary, error) {
	where, args := botRunFilter(q)
	// The window function picks each group's newest failure for its reason;
	// SQLite (3.25+) and PostgreSQL both have it.
	query := `WITH sel AS (SELECT * FROM bot_runs` + where + `),
agg AS (
	SELECT app, scenario, target, release_version,
		COUNT(*) AS runs,
		SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failures,
		SUM(CASE WHEN passed THEN 0 ELSE cost_amount END) AS cost,
		MIN(CASE WHEN passed OR cost_currency = '' THEN NULL ELSE cost_currency END) AS currency_min,
		MAX(CASE WHEN passed OR cost_currency = '' THEN NULL ELSE cost_currency END) AS currency_max,
		MAX(CASE WHEN passed THEN NULL ELSE started END) AS last_failure
	FROM sel GROUP BY app, scenario, target, release_version
),
newest AS (
	SELECT app, scenario, target, release_version, reason,
		ROW_NUMBER() OVER (PARTITION BY app, scenario, target, release_version ORDER BY started DESC, id DESC) AS n
	FROM sel WHERE NOT passed
)
SELECT agg.app, agg.scenario, agg.target, agg.release_version, agg.runs, agg.failures, agg.cost,
	agg.currency_min, agg.currency_max, agg.last_failure, COALESCE(newest.reason, '')
FROM agg LEFT JOIN newest ON newest.n = 1 AND newest.app = agg.app AND newest.scenario = agg.scenario
	AND newest.target = agg.target AND newest.release_version = agg.release_version
ORDER BY agg.app, agg.release_version DESC, agg.scenario, agg.target`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("bot summaries: %w", err)
	}
	defer rows.Close()
	list := []BotSummary{}
	for rows.Next() {
		var b BotSummary
		var curMin, curMax sql.NullString
		var last sql.NullInt64
		if err := rows.Scan(&b.App, &b.Scenario, &b.Target, &b.Release, &b.Runs, &b.Failures, &b.Cost,
			&curMin, &curMax, &last, &b.LastReason); err != nil {
			return nil, fmt.Errorf("bot summaries: %w", err)
		}
		b.Currency = curMin.String
		if curMin.String != curMax.String {
			b.Currency = "mixed"
		}
		b.LastFailure = fromNullNanos(last)
		list = append(list, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bot summaries: %w", err)
	}
	return list, nil
}

// botRunFilter returns the WHERE clause (with a leading space, or empty) and
// its arguments for q, the same for runs and summaries.
func botRunFilter(q BotRunQuery) (string, []any) {
	var f filter
	if q.App != "" {
		f.where("app = " + f.arg(q.App))
	}
	if q.Release > 0 {
		f.where("release_version = " + f.arg(q.Release))
	}
	if q.Target != "" {
		f.where("target = " + f.arg(q.Target))
	}
	if q.Scenario != "" {
		f.where("scenario = " + f.arg(q.Scenario))
	}
	if q.FailedOnly {
		f.where("NOT passed")
	}
	if !q.Since.IsZero() {
		f.where("started >= " + f.arg(q.Since.UnixNano()))
	}
	if !q.Until.IsZero() {
		f.where("started < " + f.arg(q.Until.UnixNano()))
	}
	return f.clause(), f.args
}

// pruneChunk bounds the rows one pruning transaction deletes, so a large prune
// never holds the single writer long enough to stall a deploy. A variable so
// that tests can make chunks small.
var pruneChunk = 5000

// PruneBotRuns deletes the runs started before olderThan: the passed ones, and
// the failed ones too unless keepFailed (failures are the evidence worth
// keeping longer). It returns how many runs it deleted. It deletes in chunks of
// its own transactions, so on error some runs may already be gone; a later call
// finishes the work.
func (s *Store) PruneBotRuns(ctx context.Context, olderThan time.Time, keepFailed bool) (int64, error) {
	if olderThan.IsZero() {
		return 0, fmt.Errorf("prune bot runs: zero time: %w", ErrInvalid)
	}
	cond := "started < $1"
	if keepFailed {
		cond += " AND passed"
	}
	// Rows are inserted in roughly start order, so the oldest are found first
	// in id order without an index on started alone.
	stmt := `DELETE FROM bot_runs WHERE id IN (SELECT id FROM bot_runs WHERE ` + cond + ` ORDER BY id LIMIT $2)`
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, stmt, olderThan.UnixNano(), pruneChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune bot runs older than %s: %w", olderThan.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < int64(pruneChunk) {
			return total, nil
		}
	}
}
