package dora

import (
	"encoding/json"
	"testing"
	"time"
)

// t0 is the start of every hand-made history; queries cover [t0, t0+30 days)
// unless a test says otherwise.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// history writes hand-made histories into a ledger, numbering events in the
// order they are written, as the event log would.
type history struct {
	l  *Ledger
	id int64
}

func newHistory() *history { return &history{l: NewLedger()} }

func at(d time.Duration) time.Time { return t0.Add(d) }

func (h *history) event(app, typ string, when time.Duration, release int, data map[string]any) {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	h.id++
	h.l.AddEvent(Event{ID: h.id, Time: at(when), Type: typ, App: app, Release: release, Data: raw})
}

func (h *history) commit(app, sha string, authored time.Duration, parents ...string) {
	h.l.AddCommits(app, []Commit{{SHA: sha, Parents: parents, AuthorTime: at(authored)}})
}

func (h *history) promote(app string, when time.Duration, v int, commit string) {
	h.event(app, TypePromoted, when, v, map[string]any{"commit": commit, "previous": v - 1, "source": "git"})
}

func (h *history) rollback(app string, when time.Duration, from, to int) {
	h.event(app, TypeRolledBack, when, to, map[string]any{"from": from, "to": to, "reason": "by hand"})
}

func (h *history) open(app string, when time.Duration, incident, release int) {
	h.event(app, TypeIncidentOpened, when, release, map[string]any{"incident": incident, "cause": "manual"})
}

func (h *history) resolve(app string, when time.Duration, incident, by int) {
	h.event(app, TypeIncidentResolve, when, by, map[string]any{"incident": incident, "resolved_by": by})
}

func (h *history) reject(app string, when time.Duration, v int) {
	h.event(app, TypeRejected, when, v, nil)
}

// monthOf is the default query window of the tests.
func monthOf(app string) Query { return Query{App: app, From: t0, To: at(30 * 24 * time.Hour)} }

// figures are the numbers a definition test pins, all of them every time so that
// a change elsewhere shows.
type figures struct {
	Deployments, LeadSamples, Failed, Recoveries, Rework, Caught int
	LeadMedian, LeadP90, RecoveryMedian                          time.Duration
}

func figuresOf(m Metrics) figures {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return figures{
		Deployments: m.Deployments, LeadSamples: m.LeadTime.Samples, Failed: m.ChangeFailureRate.Failed,
		Recoveries: m.RecoveryTime.Recoveries, Rework: m.ReworkRate.Rework, Caught: m.CaughtBeforeProduction,
		LeadMedian: sec(m.LeadTime.MedianSeconds), LeadP90: sec(m.LeadTime.P90Seconds),
		RecoveryMedian: sec(m.RecoveryTime.MedianSeconds),
	}
}

func check(t *testing.T, got Metrics, want figures) {
	t.Helper()
	if g := figuresOf(got); g != want {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}
}
