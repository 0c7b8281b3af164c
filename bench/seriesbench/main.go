// Command seriesbench times internal/series on a year of generated history:
// it fills a series database as ten apps' collector would have left it after
// retention, then times a collector step's write and Query over ranges from an
// hour to a year. See bench/series.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prosperhq/prosper/internal/series"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seriesbench:", err)
		os.Exit(1)
	}
}

var metrics = []string{series.RPS, series.ErrorRate, series.P50, series.P95, series.P99,
	series.CPU, series.Memory, series.Restarts, series.BotsOK, series.BotsFailed}

func run() error {
	apps := flag.Int("apps", 10, "apps, one release each")
	days := flag.Int("days", 365, "days of history")
	fine := flag.Duration("fine", 10*time.Second, "sample spacing over the last 48h (the collector's step; coarser fills faster)")
	runs := flag.Int("runs", 21, "calls per query (the median is printed)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "seriesbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	st, err := series.Open(ctx, filepath.Join(dir, "series.db"), series.WithClock(func() time.Time { return end }))
	if err != nil {
		return err
	}
	defer st.Close()

	// The spacing of the samples left after retention: 1h buckets only before
	// 60 days, 5 min buckets to 48 h, then the finest.
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []series.Sample
	n := 0
	at := end.AddDate(0, 0, -*days)
	for at.Before(end) {
		for a := range *apps {
			for _, m := range metrics {
				batch = append(batch, series.Sample{App: fmt.Sprintf("app%02d", a), Release: 1, Metric: m, Time: at, Value: rng.Float64() * 100})
			}
		}
		if len(batch) >= 20000 {
			if err := st.Add(ctx, batch); err != nil {
				return err
			}
			n += len(batch)
			batch = batch[:0]
		}
		switch age := end.Sub(at); {
		case age > 60*24*time.Hour:
			at = at.Add(time.Hour)
		case age > 48*time.Hour:
			at = at.Add(5 * time.Minute)
		default:
			at = at.Add(*fine)
		}
	}
	if err := st.Add(ctx, batch); err != nil {
		return err
	}
	n += len(batch)
	fill := time.Since(start)
	fi, err := os.Stat(filepath.Join(dir, "series.db"))
	if err != nil {
		return err
	}
	fmt.Printf("history: %d apps x %d metrics, %d days, %d samples (fine spacing %s); filled in %v (%.0f samples/s); series.db %.0f MiB\n",
		*apps, len(metrics), *days, n, *fine, fill.Round(time.Millisecond), float64(n)/fill.Seconds(), float64(fi.Size())/(1<<20))

	// A collector step: one sample per metric of every app.
	step := make([]series.Sample, 0, *apps*len(metrics))
	for a := range *apps {
		for _, m := range metrics {
			step = append(step, series.Sample{App: fmt.Sprintf("app%02d", a), Release: 1, Metric: m, Time: end.Add(-time.Second), Value: 1})
		}
	}
	fmt.Printf("\nmedian of %d calls:\n", *runs)
	fmt.Printf("  %-36s %8.2f ms\n", fmt.Sprintf("collector step write (%d samples)", len(step)), median(*runs, func() error { return st.Add(ctx, step) }))
	for _, r := range []struct {
		name  string
		since time.Duration
	}{
		{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour},
		{"30d", 30 * 24 * time.Hour}, {"365d", 365 * 24 * time.Hour},
	} {
		var points, nseries int
		var stepSec int64
		ms := median(*runs, func() error {
			res, err := st.Query(ctx, "app03", 0, r.since)
			points, nseries, stepSec = 0, len(res.Series), res.StepSeconds
			for _, s := range res.Series {
				points = max(points, len(s.Points))
			}
			return err
		})
		fmt.Printf("  %-36s %8.2f ms  (%d series, step %ds, at most %d points each)\n", "query one app, since "+r.name, ms, nseries, stepSec, points)
	}
	return nil
}

// median runs f n times and returns the median duration in milliseconds; it
// stops at the first error.
func median(n int, f func() error) float64 {
	ds := make([]float64, n)
	for i := range ds {
		start := time.Now()
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "seriesbench:", err)
			os.Exit(1)
		}
		ds[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	slices.Sort(ds)
	return ds[n/2]
}
