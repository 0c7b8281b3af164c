package dora_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/dora"
	"github.com/prosperhq/prosper/internal/dora/synth"
)

var (
	benchOnce   sync.Once
	benchLedger *dora.Ledger
	benchEnd    = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
)

// benchHistory is the target: 100 apps, a year, 500k promotions, about
// 2M commits (bench/dora prints more about it).
func benchHistory() (synth.Options, *dora.Ledger) {
	o := synth.Options{Apps: 100, Teams: 10, Days: 365, DeploysPerApp: 5000, CommitsPerApp: 20000, Seed: 1, End: benchEnd}
	benchOnce.Do(func() {
		l := dora.NewLedger()
		apps, events := synth.Generate(o, l.AddCommits)
		for _, a := range apps {
			l.SetApp(a.Name, a.Team)
		}
		for _, e := range events {
			l.AddEvent(e)
		}
		l.Metrics(dora.Query{From: benchEnd.AddDate(-1, 0, 0), To: benchEnd})
		benchLedger = l
	})
	return o, benchLedger
}

func BenchmarkMetrics(b *testing.B) {
	_, l := benchHistory()
	year := dora.Query{From: benchEnd.AddDate(-1, 0, 0), To: benchEnd}
	for _, c := range []struct {
		name string
		q    dora.Query
	}{
		{"overall", year},
		{"team", dora.Query{Team: "team00", From: year.From, To: year.To}},
		{"app", dora.Query{App: "app000", From: year.From, To: year.To}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				l.Metrics(c.q)
			}
		})
	}
}

// BenchmarkFeed times feeding a smaller history (10 apps, 50k promotions, 200k
// commits) and deriving it with a first query.
func BenchmarkFeed(b *testing.B) {
	o := synth.Options{Apps: 10, Teams: 2, Days: 365, DeploysPerApp: 5000, CommitsPerApp: 20000, Seed: 2, End: benchEnd}
	commits := map[string][]dora.Commit{}
	apps, events := synth.Generate(o, func(app string, cs []dora.Commit) { commits[app] = cs })
	for b.Loop() {
		l := dora.NewLedger()
		for _, a := range apps {
			l.AddCommits(a.Name, commits[a.Name])
		}
		for _, e := range events {
			l.AddEvent(e)
		}
		l.Metrics(dora.Query{From: benchEnd.AddDate(-1, 0, 0), To: benchEnd})
	}
}
