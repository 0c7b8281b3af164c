package series

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxPoints bounds the points of one series in a query's answer, whatever the
// range: a chart is a few hundred pixels wide.
const MaxPoints = 500

// MinPoints is the fewest points a query reads from a resolution coarser than
// the finest: enough for a chart, and far fewer buckets to read than MaxPoints.
const MinPoints = 150

// Point is [unix seconds of the step's start, value], as the JSON contract has it.
type Point [2]float64

// Series is one metric of one release over a range.
type Series struct {
	Metric  string  `json:"metric"`
	Release int     `json:"release"`
	Points  []Point `json:"points"`
}

// Result answers a Query, in the shape of GET /api/apps/{app}/series.
type Result struct {
	App         string   `json:"app"`
	Since       string   `json:"since"`
	StepSeconds int64    `json:"step_seconds"`
	Series      []Series `json:"series"`
}

// Query returns the app's series over the last since, of one release or of
// every release when release is 0. It reads the coarsest resolution that still
// gives MinPoints points (see pickResolution) and groups its buckets into steps
// wide enough for at most MaxPoints points. A step without samples has no point.
func (s *Store) Query(ctx context.Context, app string, release int, since time.Duration) (Result, error) {
	res, err := pickResolution(since)
	if err != nil {
		return Result{}, err
	}
	step := stepFor(since, res)
	now := s.now().Unix()
	from := now - int64(since/time.Second)
	from -= mod(from, step)

	// Rows come in key order, by time, and are summed into steps here: that
	// spares SQLite a sort, which took most of the time of a long range.
	q := `SELECT t, release, metric, s, n, mx FROM buckets WHERE res = $1 AND app = $2 AND t >= $3`
	args := []any{int64(res.Step / time.Second), app, from}
	if release != 0 {
		q += ` AND release = $4`
		args = append(args, release)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Result{}, fmt.Errorf("query series of %s: %w", app, err)
	}
	defer rows.Close()
	type seriesKey struct {
		release int
		metric  string
	}
	accs := map[seriesKey]*stepSum{}
	var order []seriesKey
	for rows.Next() {
		var (
			k        seriesKey
			t, n     int64
			total, m float64
		)
		if err := rows.Scan(&t, &k.release, &k.metric, &total, &n, &m); err != nil {
			return Result{}, fmt.Errorf("query series of %s: %w", app, err)
		}
		a := accs[k]
		if a == nil {
			a = &stepSum{agg: aggregations[k.metric], g: -1}
			accs[k] = a
			order = append(order, k)
		}
		a.add(t-mod(t, step), total, n, m)
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("query series of %s: %w", app, err)
	}
	slices.SortFunc(order, func(a, b seriesKey) int {
		return cmp.Or(cmp.Compare(a.release, b.release), cmp.Compare(a.metric, b.metric))
	})
	out := Result{App: app, Since: formatSince(since), StepSeconds: step, Series: make([]Series, 0, len(order))}
	for _, k := range order {
		a := accs[k]
		a.flush()
		out.Series = append(out.Series, Series{Metric: k.metric, Release: k.release, Points: a.points})
	}
	return out, nil
}

// stepSum sums the buckets of one series into steps, which arrive in time
// order.
type stepSum struct {
	agg      aggregation
	g        int64 // start of the step being summed; -1 before the first
	total, m float64
	n        int64
	points   []Point
}

func (a *stepSum) add(g int64, total float64, n int64, m float64) {
	if g != a.g {
		a.flush()
		a.g, a.total, a.n, a.m = g, 0, 0, m
	}
	a.total += total
	a.n += n
	a.m = max(a.m, m)
}

// flush appends the step being summed as a point.
func (a *stepSum) flush() {
	if a.n == 0 {
		return
	}
	var v float64
	switch a.agg {
	case sum:
		v = a.total
	case maximum:
		v = a.m
	default:
		v = a.total / float64(a.n)
	}
	a.points = append(a.points, Point{float64(a.g), v})
	a.n = 0
}

// pickResolution returns the resolution a query of the range reads: of those
// that keep the whole range, the coarsest whose buckets still give MinPoints
// points, so that it reads as few buckets as a readable chart allows (a day of
// 10 s buckets is 8,640 rows a metric, of 5 min ones 288); the finest that
// keeps the range when every one is coarser.
func pickResolution(since time.Duration) (Resolution, error) {
	if since <= 0 {
		return Resolution{}, fmt.Errorf("range %s: must be positive: %w", since, ErrInvalid)
	}
	ideal := since / MinPoints
	var pick Resolution
	for _, r := range Resolutions {
		if since > r.Retain {
			continue
		}
		if pick.Step == 0 || r.Step <= ideal {
			pick = r
		}
	}
	if pick.Step == 0 {
		last := Resolutions[len(Resolutions)-1]
		return Resolution{}, fmt.Errorf("range %s: history is kept %s at most: %w", formatSince(since), formatSince(last.Retain), ErrInvalid)
	}
	return pick, nil
}

// stepFor is the smallest multiple of the resolution's width that covers the
// range in fewer than MaxPoints steps; the range's start rounds down to a
// step, which can add one.
func stepFor(since time.Duration, r Resolution) int64 {
	width := int64(r.Step / time.Second)
	buckets := (int64(since/time.Second) + width - 1) / width
	k := (buckets + MaxPoints - 2) / (MaxPoints - 1)
	return max(k, 1) * width
}

// ParseSince reads a range as the API takes it: a Go duration ("90m", "24h")
// or a number of days ("7d", "365d").
func ParseSince(v string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100_000 {
			return 0, fmt.Errorf("since %q: want a duration such as 24h, 90m or 7d: %w", v, ErrInvalid)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("since %q: want a duration such as 24h, 90m or 7d: %w", v, ErrInvalid)
		}
	}
	if _, err := pickResolution(d); err != nil {
		return 0, fmt.Errorf("since %q: %w", v, err)
	}
	return d, nil
}

// formatSince writes whole days as "7d" and other ranges as Go durations.
func formatSince(d time.Duration) string {
	if day := 24 * time.Hour; d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
