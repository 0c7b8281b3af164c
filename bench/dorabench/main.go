// Command dorabench times the DORA metrics of internal/dora on a generated
// history: feeding a ledger, then Metrics for the whole platform, one team and
// one app. See bench/dora and BENCHMARKS.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/prosperhq/prosper/internal/dora"
	"github.com/prosperhq/prosper/internal/dora/synth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dorabench:", err)
		os.Exit(1)
	}
}

func run() error {
	o := synth.Options{End: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	flag.IntVar(&o.Apps, "apps", 100, "apps")
	flag.IntVar(&o.Teams, "teams", 10, "teams the apps are spread over")
	flag.IntVar(&o.Days, "days", 365, "days of history")
	flag.IntVar(&o.DeploysPerApp, "deploys", 5000, "promotions per app")
	flag.IntVar(&o.CommitsPerApp, "commits", 20000, "commits per app, about")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the generated history")
	runs := flag.Int("runs", 10, "Metrics calls per query (the median is printed)")
	flag.Parse()

	base := heap()
	type batch struct {
		app string
		cs  []dora.Commit
	}
	var batches []batch
	start := time.Now()
	apps, events := synth.Generate(o, func(app string, cs []dora.Commit) { batches = append(batches, batch{app, cs}) })
	gen := time.Since(start)
	ncommits := 0
	for _, b := range batches {
		ncommits += len(b.cs)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.Type]++
	}
	fmt.Printf("history: %d apps, %d teams, %d days, %d events (%d promotions, %d rollbacks, %d incidents, %d rejected), %d commits; generated in %v\n",
		len(apps), o.Teams, o.Days, len(events), count[dora.TypePromoted], count[dora.TypeRolledBack],
		count[dora.TypeIncidentOpened], count[dora.TypeRejected], ncommits, gen.Round(time.Millisecond))

	l := dora.NewLedger()
	start = time.Now()
	for _, a := range apps {
		l.SetApp(a.Name, a.Team)
	}
	for _, b := range batches {
		l.AddCommits(b.app, b.cs)
	}
	commitsFed := time.Since(start)
	start = time.Now()
	for _, e := range events {
		l.AddEvent(e)
	}
	eventsFed := time.Since(start)
	end := o.End
	year := dora.Query{From: end.AddDate(0, 0, -o.Days), To: end}
	start = time.Now()
	first := l.Metrics(year)
	firstQuery := time.Since(start)
	last, nevents := events[len(events)-1], len(events)
	batches, events = nil, nil
	ledgerHeap := heap() - base
	fmt.Printf("feed: commits %v (%.0f/s), events %v (%.0f/s); first query (derives every app) %v; ledger heap %.0f MiB\n",
		commitsFed.Round(time.Millisecond), float64(ncommits)/commitsFed.Seconds(),
		eventsFed.Round(time.Millisecond), float64(nevents)/eventsFed.Seconds(),
		firstQuery.Round(time.Millisecond), float64(ledgerHeap)/(1<<20))
	fmt.Printf("overall, %d days: %d deployments (%.1f/day %s), lead time median %.1f h p90 %.1f h over %d commits (%s), change failure rate %.1f%% (%s), recovery median %.1f min over %d (%s), rework %.1f%%, caught %d\n",
		o.Days, first.Deployments, first.DeploymentFrequency.PerDay, first.DeploymentFrequency.Bucket,
		first.LeadTime.MedianSeconds/3600, first.LeadTime.P90Seconds/3600, first.LeadTime.Samples, first.LeadTime.Bucket,
		100*first.ChangeFailureRate.Value, first.ChangeFailureRate.Bucket,
		first.RecoveryTime.MedianSeconds/60, first.RecoveryTime.Recoveries, first.RecoveryTime.Bucket,
		100*first.ReworkRate.Value, first.CaughtBeforeProduction)

	queries := []struct {
		name string
		q    dora.Query
	}{
		{"overall, the year", year},
		{"one team (10 apps), the year", dora.Query{Team: apps[0].Team, From: year.From, To: year.To}},
		{"one app, the year", dora.Query{App: apps[0].Name, From: year.From, To: year.To}},
		{"overall, last 90 days", dora.Query{From: end.AddDate(0, 0, -90), To: end}},
	}
	fmt.Printf("\nmedian of %d Metrics() calls:\n", *runs)
	for _, q := range queries {
		fmt.Printf("  %-32s %8.1f ms\n", q.name, median(*runs, func() { l.Metrics(q.q) }))
	}
	// Live: a promotion arrives for one app before each query; that app's
	// history is derived again, the others' are reused.
	id, t := last.ID, last.Time
	fmt.Printf("  %-32s %8.1f ms\n", "overall after a new promotion", median(*runs, func() {
		id++
		t = t.Add(time.Second)
		l.AddEvent(dora.Event{ID: id, Time: t, Type: dora.TypePromoted, App: apps[int(id)%len(apps)].Name, Release: int(id)})
		l.Metrics(year)
	}))
	return nil
}

// median runs f n times and returns the median duration in milliseconds.
func median(n int, f func()) float64 {
	ds := make([]float64, n)
	for i := range ds {
		start := time.Now()
		f()
		ds[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	slices.Sort(ds)
	if n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[n/2]
}

// heap returns the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
