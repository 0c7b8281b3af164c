package synth

import (
	"reflect"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/dora"
)

func TestGenerate(t *testing.T) {
	o := Options{Apps: 4, Teams: 2, Days: 30, DeploysPerApp: 200, CommitsPerApp: 800, Seed: 3,
		End: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	gen := func() ([]App, []dora.Event, int) {
		n := 0
		apps, events := Generate(o, func(_ string, cs []dora.Commit) { n += len(cs) })
		return apps, events, n
	}
	apps, events, commits := gen()
	apps2, events2, commits2 := gen()
	if !reflect.DeepEqual(apps, apps2) || !reflect.DeepEqual(events, events2) || commits != commits2 {
		t.Fatal("the same seed gave two histories")
	}
	if len(apps) != 4 || apps[3].Team != "team01" {
		t.Errorf("apps %+v", apps)
	}
	if commits < 2400 || commits > 4000 {
		t.Errorf("%d commits, want about 4×800", commits)
	}
	promoted := 0
	for i, e := range events {
		if e.ID != int64(i+1) || (i > 0 && e.Time.Before(events[i-1].Time)) {
			t.Fatalf("event %d (%+v) out of order", i, e)
		}
		if e.Type == dora.TypePromoted {
			promoted++
		}
	}
	if promoted != 800 {
		t.Errorf("%d promotions, want 800", promoted)
	}

	// The ledger reads it with every metric non-zero.
	l := dora.NewLedger()
	_, events = Generate(o, l.AddCommits)
	for _, e := range events {
		l.AddEvent(e)
	}
	m := l.Metrics(dora.Query{From: o.End.AddDate(0, 0, -o.Days), To: o.End})
	if m.Deployments != 800 || m.LeadTime.Samples < 2400 || m.ChangeFailureRate.Failed == 0 ||
		m.RecoveryTime.Recoveries == 0 || m.ReworkRate.Rework == 0 || m.CaughtBeforeProduction == 0 {
		t.Errorf("metrics of the generated history %+v", m)
	}
}
