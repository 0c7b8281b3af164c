// Package series keeps per-app, per-release metrics as time series in their own
// SQLite file (DATA_DIR/series.db), downsampled so a year of history stays small
// and a chart of any range reads at most about 500 points per series.
//
// Every sample is written at four resolutions as it arrives: 10 s buckets kept
// 48 hours, 5 min buckets kept 60 days, 1 h and 6 h buckets kept 2 years (the
// 6 h ones only spare a query of months from reading thousands of hours). A bucket
// holds the sum, count and maximum of the samples in it, so that a coarser
// bucket is exact for each metric's aggregation (a mean for rates and gauges,
// a sum for counts per step, a maximum for the high latency quantiles).
package series

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Metric names, as the JSON contract of GET /api/apps/{app}/series spells them.
const (
	RPS        = "rps"        // requests per second over the step
	ErrorRate  = "error_rate" // 5xx answers / all answers in the step, 0..1
	P50        = "p50_ms"
	P95        = "p95_ms"
	P99        = "p99_ms"
	CPU        = "cpu_pct"     // CPU time of the release's processes / step, in % of one core
	Memory     = "mem_bytes"   // resident memory of the release's processes
	Restarts   = "restarts"    // process restarts in the step
	BotsOK     = "bots_ok"     // bot journeys passed in the step
	BotsFailed = "bots_failed" // bot journeys failed in the step
)

// aggregation says how a metric's samples combine into a coarser bucket.
type aggregation int

const (
	mean aggregation = iota
	sum
	maximum
)

// aggregations lists how each known metric combines; an unknown one is a mean.
var aggregations = map[string]aggregation{
	Restarts: sum, BotsOK: sum, BotsFailed: sum,
	P95: maximum, P99: maximum,
}

// Resolution is one bucket width and how long its buckets are kept.
type Resolution struct {
	Step   time.Duration
	Retain time.Duration
}

// Resolutions are the bucket widths, finest first.
var Resolutions = []Resolution{
	{10 * time.Second, 48 * time.Hour},
	{5 * time.Minute, 60 * 24 * time.Hour},
	{time.Hour, 2 * 365 * 24 * time.Hour},
	{6 * time.Hour, 2 * 365 * 24 * time.Hour},
}

// Sample is one value of one metric of one release at one time.
type Sample struct {
	App     string
	Release int
	Metric  string
	Time    time.Time
	Value   float64
}

// Store is the time-series database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Option changes how Open sets up a Store.
type Option func(*Store)

// WithClock replaces the wall clock, which decides what retention removes and
// where a query's range ends.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

const schema = `
CREATE TABLE IF NOT EXISTS buckets (
	res     INTEGER NOT NULL, -- bucket width in seconds
	app     TEXT    NOT NULL,
	release INTEGER NOT NULL,
	metric  TEXT    NOT NULL,
	t       INTEGER NOT NULL, -- bucket start, unix seconds
	s       REAL    NOT NULL, -- sum of the samples
	n       INTEGER NOT NULL, -- number of samples
	mx      REAL    NOT NULL, -- largest sample
	-- Time before release and metric: a query reads one app's range at one
	-- resolution, every release and metric, as one contiguous scan.
	PRIMARY KEY (res, app, t, release, metric)
) WITHOUT ROWID;
`

// Open opens (creating if needed) the series database at path.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open series: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// A lost last step after a power cut is acceptable for metrics; an fsync
	// per write every 10 s is not needed.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open series %s: %w", path, err)
	}
	// One connection: writes are serialized anyway, and a query of a year
	// takes milliseconds.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open series %s: %w", path, err)
	}
	s := &Store{db: db, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Add records samples at every resolution, in one transaction. NaN and
// infinite values are refused: a missing figure is no sample, not a number.
func (s *Store) Add(ctx context.Context, samples []Sample) error {
	for _, x := range samples {
		if x.App == "" || x.Metric == "" || x.Value != x.Value || x.Value > maxValue || x.Value < -maxValue {
			return fmt.Errorf("add sample %+v: %w", x, ErrInvalid)
		}
	}
	if len(samples) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO buckets (res, app, release, metric, t, s, n, mx)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $6)
		ON CONFLICT (res, app, t, release, metric) DO UPDATE SET
			s = s + excluded.s, n = n + 1, mx = max(mx, excluded.mx)`)
	if err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	defer stmt.Close()
	for _, x := range samples {
		unix := x.Time.Unix()
		for _, r := range Resolutions {
			step := int64(r.Step / time.Second)
			if _, err := stmt.ExecContext(ctx, step, x.App, x.Release, x.Metric, unix-mod(unix, step), x.Value); err != nil {
				return fmt.Errorf("add samples: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	return nil
}

// maxValue bounds a sample; past it a value is a bug, not a measurement.
const maxValue = 1e300

// ErrInvalid is returned for a sample or query that cannot be stored or answered.
var ErrInvalid = errors.New("invalid")

// Prune removes the buckets older than their resolution keeps, and returns
// how many it removed.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	now := s.now()
	var total int64
	for _, r := range Resolutions {
		res, err := s.db.ExecContext(ctx, `DELETE FROM buckets WHERE res = $1 AND t < $2`,
			int64(r.Step/time.Second), now.Add(-r.Retain).Unix())
		if err != nil {
			return total, fmt.Errorf("prune series: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// DeleteApp forgets every series of an app.
func (s *Store) DeleteApp(ctx context.Context, app string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM buckets WHERE app = $1`, app); err != nil {
		return fmt.Errorf("delete series of %s: %w", app, err)
	}
	return nil
}

// mod is the non-negative remainder, so times before 1970 round down too.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
