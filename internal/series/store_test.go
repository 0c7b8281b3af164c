package series

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the store's retention and query ranges.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openTest(t *testing.T, c *clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "series.db"), WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func find(r Result, metric string, release int) *Series {
	for i := range r.Series {
		if r.Series[i].Metric == metric && r.Series[i].Release == release {
			return &r.Series[i]
		}
	}
	return nil
}

func TestRollupAggregatesPerMetric(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0.Add(time.Hour)}
	s := openTest(t, c)
	// Thirty 10 s steps in t0's first 5 minutes: rps 1..30, one restart every
	// third step, p99 peaking at 900 once.
	var samples []Sample
	for i := range 30 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples,
			Sample{"shop", 2, RPS, at, float64(i + 1)},
			Sample{"shop", 2, P99, at, 100},
		)
		if i%3 == 0 {
			samples = append(samples, Sample{"shop", 2, Restarts, at, 1})
		}
	}
	samples = append(samples, Sample{"shop", 2, P99, t0.Add(100 * time.Second), 900})
	if err := s.Add(ctx, samples); err != nil {
		t.Fatal(err)
	}
	// 24h past t0+1h reads the 10 s buckets grouped by 3 min; ask the 5 min
	// buckets directly through a range only they keep.
	c.set(t0.Add(49 * time.Hour))
	r, err := s.Query(ctx, "shop", 0, 50*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.StepSeconds%300 != 0 {
		t.Fatalf("step %d s over 50h, want a multiple of the 5 min resolution", r.StepSeconds)
	}
	tests := []struct {
		metric string
		want   float64
	}{
		{RPS, 15.5},    // the mean of 1..30
		{Restarts, 10}, // the sum
		{P99, 900},     // the largest
	}
	for _, tt := range tests {
		sr := find(r, tt.metric, 2)
		if sr == nil || len(sr.Points) != 1 {
			t.Fatalf("%s: %+v, want one point", tt.metric, sr)
		}
		if got := sr.Points[0]; got[0] != float64(t0.Unix()) || got[1] != tt.want {
			t.Errorf("%s = %v, want [%d %v]", tt.metric, got, t0.Unix(), tt.want)
		}
	}
}

func TestQueryFiltersAndLeavesGapsMissing(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0.Add(10 * time.Minute)}
	s := openTest(t, c)
	err := s.Add(ctx, []Sample{
		{"shop", 1, RPS, t0, 3},
		{"shop", 2, RPS, t0, 4},
		{"shop", 2, RPS, t0.Add(5 * time.Minute), 6}, // nothing between
		{"blog", 1, RPS, t0, 99},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Query(ctx, "shop", 2, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r.StepSeconds != 10 || r.Since != "10m0s" || r.App != "shop" {
		t.Errorf("header = %+v", r)
	}
	if len(r.Series) != 1 || r.Series[0].Release != 2 {
		t.Fatalf("series = %+v, want release 2 of shop only", r.Series)
	}
	want := []Point{{float64(t0.Unix()), 4}, {float64(t0.Unix() + 300), 6}}
	if got := r.Series[0].Points; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("points = %v, want %v (no zeros in the gap)", got, want)
	}
	all, err := s.Query(ctx, "shop", 0, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Series) != 2 {
		t.Errorf("every release: %d series, want 2", len(all.Series))
	}
}

func TestRetentionPerResolution(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0}
	s := openTest(t, c)
	if err := s.Add(ctx, []Sample{{"shop", 1, Memory, t0, 1e6}}); err != nil {
		t.Fatal(err)
	}
	count := func(res time.Duration) int {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM buckets WHERE res = $1`, int64(res/time.Second)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		after             time.Duration
		fine, mid, coarse int
	}{
		{47 * time.Hour, 1, 1, 1},
		{49 * time.Hour, 0, 1, 1},
		{61 * 24 * time.Hour, 0, 0, 1},
		{731 * 24 * time.Hour, 0, 0, 0},
	}
	for _, st := range steps {
		c.set(t0.Add(st.after))
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		got := [4]int{count(10 * time.Second), count(5 * time.Minute), count(time.Hour), count(6 * time.Hour)}
		if want := [4]int{st.fine, st.mid, st.coarse, st.coarse}; got != want {
			t.Errorf("after %s: buckets (10s, 5m, 1h, 6h) = %v, want %v", st.after, got, want)
		}
	}
}

func TestAddRefusesBadSamples(t *testing.T) {
	s := openTest(t, &clock{t: t0})
	for _, x := range []Sample{
		{"", 1, RPS, t0, 1},
		{"shop", 1, "", t0, 1},
		{"shop", 1, RPS, t0, math.NaN()},
		{"shop", 1, RPS, t0, math.Inf(1)},
	} {
		if err := s.Add(context.Background(), []Sample{x}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add(%+v) = %v, want ErrInvalid", x, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"365d", 365 * 24 * time.Hour, true},
		{"730d", 730 * 24 * time.Hour, true},
		{"731d", 0, false},
		{"0s", 0, false},
		{"-1h", 0, false},
		{"", 0, false},
		{"yesterday", 0, false},
		{"1e9d", 0, false},
		{"99999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSince(%q) = %s, %v; want %s, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSince(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
}

// TestYearQueryStaysSmallAndFast feeds a year of samples every 3 h plus the
// last two days every minute (sparse enough to stay quick under -race), and
// checks every range answers at most MaxPoints points per series quickly.
func TestYearQueryStaysSmallAndFast(t *testing.T) {
	ctx := context.Background()
	end := t0.Add(365 * 24 * time.Hour)
	c := &clock{t: end}
	s := openTest(t, c)
	// Two metrics keep the feed short under -race; bench/series times ten.
	metrics := []string{RPS, Restarts}
	var batch []Sample
	flush := func() {
		if err := s.Add(ctx, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for at := t0; at.Before(end); at = at.Add(3 * time.Hour) {
		for _, m := range metrics {
			batch = append(batch, Sample{"shop", 1, m, at, 1})
		}
		if len(batch) > 5000 {
			flush()
		}
	}
	for at := end.Add(-48 * time.Hour); at.Before(end); at = at.Add(time.Minute) {
		for _, m := range metrics {
			batch = append(batch, Sample{"shop", 1, m, at, 1})
		}
	}
	flush()
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	for _, since := range []time.Duration{time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour} {
		start := time.Now()
		r, err := s.Query(ctx, "shop", 0, since)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Series) != len(metrics) {
			t.Errorf("%s: %d series, want %d", since, len(r.Series), len(metrics))
		}
		for _, sr := range r.Series {
			if len(sr.Points) == 0 || len(sr.Points) > MaxPoints {
				t.Errorf("%s %s: %d points, want 1..%d", since, sr.Metric, len(sr.Points), MaxPoints)
			}
		}
		t.Logf("%s: %s, %d points", since, took, len(r.Series[0].Points))
		// Generous for a busy machine under -race; bench/series gives the figure.
		if took > 2*time.Second {
			t.Errorf("query of %s took %s", since, took)
		}
		if since == 365*24*time.Hour && len(r.Series[0].Points) < MaxPoints*9/10 {
			t.Errorf("a year answers %d points, want close to %d", len(r.Series[0].Points), MaxPoints)
		}
	}
}

func TestStepForBoundsPoints(t *testing.T) {
	for _, since := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 48 * time.Hour, 49 * time.Hour, 30 * 24 * time.Hour, 60 * 24 * time.Hour, 365 * 24 * time.Hour, 730 * 24 * time.Hour} {
		r, err := pickResolution(since)
		if err != nil {
			t.Fatal(err)
		}
		step := stepFor(since, r)
		if step%int64(r.Step/time.Second) != 0 {
			t.Errorf("%s: step %d is not a multiple of %s", since, step, r.Step)
		}
		// The worst alignment: the range starts just after a step boundary.
		if n := (int64(since/time.Second)+step-1)/step + 1; n > MaxPoints {
			t.Errorf("%s: up to %d points at step %d", since, n, step)
		}
	}
}
