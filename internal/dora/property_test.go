package dora

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"
)

// op is one thing fed to a ledger: an app's team, commits or an event.
type op struct {
	app, team string
	setApp    bool
	commits   []Commit
	event     *Event
}

func (o op) apply(l *Ledger) {
	switch {
	case o.setApp:
		l.SetApp(o.app, o.team)
	case o.event != nil:
		l.AddEvent(*o.event)
	default:
		l.AddCommits(o.app, o.commits)
	}
}

// randomHistory makes a bounded random history with the pitfalls in it: merges,
// side branches, redeploys, working-tree deploys, unknown commits, commits
// recorded late, imported deployments fed after later ones, equal timestamps,
// rollbacks of rollbacks, incidents of every kind, events fed twice, other types.
func randomHistory(seed uint64, steps int) []op {
	r := rand.New(rand.NewPCG(seed, 99))
	apps := []string{"a", "b", "c"}
	teams := []string{"x", "y"}
	type state struct {
		shas      []string
		head      string
		versions  int
		live      int
		previous  []int
		incidents []int
	}
	st := map[string]*state{}
	for _, a := range apps {
		st[a] = &state{}
	}
	var ops []op
	var late []op
	clock := t0
	var id int64
	nextIncident := 0
	event := func(app, typ string, when time.Time, release int, data map[string]any) {
		raw, _ := json.Marshal(data)
		id++
		e := &Event{ID: id, Time: when, Type: typ, App: app, Release: release, Data: raw}
		ops = append(ops, op{event: e})
		if r.IntN(20) == 0 {
			ops = append(ops, op{event: e}) // fed twice
		}
	}
	for _, a := range apps {
		ops = append(ops, op{setApp: true, app: a, team: teams[r.IntN(2)]})
	}
	for range steps {
		if r.IntN(4) > 0 {
			clock = clock.Add(time.Duration(r.IntN(180)) * time.Minute) // 0: same timestamp
		}
		app := apps[r.IntN(len(apps))]
		s := st[app]
		switch k := r.IntN(20); {
		case k < 6: // commits
			var cs []Commit
			for range 1 + r.IntN(3) {
				sha := fmt.Sprintf("%s-%d", app, len(s.shas))
				var parents []string
				if s.head != "" {
					parents = append(parents, s.head)
				}
				if len(s.shas) > 2 && r.IntN(5) == 0 {
					parents = append(parents, s.shas[r.IntN(len(s.shas))]) // merge
				}
				if r.IntN(8) == 0 {
					parents = append(parents, "never-recorded")
				}
				c := Commit{SHA: sha, Parents: parents, AuthorTime: clock.Add(-time.Duration(r.IntN(3000)) * time.Minute)}
				s.shas = append(s.shas, sha)
				if r.IntN(6) > 0 {
					s.head = sha // else a side branch left behind
				}
				cs = append(cs, c)
			}
			o := op{app: app, commits: cs}
			if r.IntN(5) == 0 {
				late = append(late, o)
			} else {
				ops = append(ops, o)
			}
		case k < 11: // promotion
			commit := s.head
			switch r.IntN(8) {
			case 0:
				commit = ""
			case 1:
				commit = "unknown"
			case 2:
				if len(s.shas) > 0 {
					commit = s.shas[r.IntN(len(s.shas))]
				}
			}
			s.versions++
			s.previous = append(s.previous, s.live)
			s.live = s.versions
			event(app, TypePromoted, clock, s.versions, map[string]any{"commit": commit, "source": "git"})
		case k == 11: // imported past deployment
			var commit string
			if len(s.shas) > 0 {
				commit = s.shas[r.IntN(len(s.shas))]
			}
			event(app, TypePromoted, clock.Add(-time.Duration(r.IntN(5000))*time.Minute), 0,
				map[string]any{"commit": commit, "source": "import"})
		case k == 12: // rollback, sometimes of a rollback
			if n := len(s.previous); n > 0 {
				to := s.previous[n-1]
				event(app, TypeRolledBack, clock, to, map[string]any{"from": s.live, "to": to})
				s.previous[n-1] = s.live
				s.live = to
			}
		case k < 15: // incident opened
			nextIncident++
			s.incidents = append(s.incidents, nextIncident)
			release := []int{0, s.live, r.IntN(s.versions + 2)}[r.IntN(3)]
			event(app, TypeIncidentOpened, clock, release, map[string]any{"incident": nextIncident, "cause": "manual"})
		case k < 17: // incident resolved, by hand or by the live version
			if n := len(s.incidents); n > 0 {
				i := r.IntN(n)
				by := []int{0, s.live, s.versions}[r.IntN(3)]
				event(app, TypeIncidentResolve, clock, by, map[string]any{"incident": s.incidents[i], "resolved_by": by})
				s.incidents = append(s.incidents[:i], s.incidents[i+1:]...)
			}
		case k == 17:
			s.versions++
			event(app, TypeRejected, clock, s.versions, nil)
		case k == 18:
			event(app, "verify.verdict", clock, s.versions, map[string]any{"ok": true})
		default:
			if len(late) > 0 {
				ops = append(ops, late[0])
				late = late[1:]
			}
			if r.IntN(10) == 0 {
				ops = append(ops, op{setApp: true, app: app, team: teams[r.IntN(2)]})
			}
		}
	}
	return append(ops, late...)
}

func randomQuery(r *rand.Rand, end time.Time) Query {
	q := Query{From: t0.Add(-time.Duration(r.IntN(72)) * time.Hour), To: end.Add(time.Duration(r.IntN(72)-36) * time.Hour)}
	switch r.IntN(4) {
	case 0:
		q.App = []string{"a", "b", "c", "nope"}[r.IntN(4)]
	case 1:
		q.Team = []string{"x", "y"}[r.IntN(2)]
	}
	return q
}

// TestIncrementalEqualsFromScratch: a ledger fed a history as it happens, with
// queries in between, answers as a ledger fed it all at once, and as one fed all
// the commits before the events.
func TestIncrementalEqualsFromScratch(t *testing.T) {
	for seed := range uint64(40) {
		ops := randomHistory(seed, 400)
		end := t0
		for _, o := range ops {
			if o.event != nil && o.event.Time.After(end) {
				end = o.event.Time
			}
		}
		r := rand.New(rand.NewPCG(seed, 7))

		live := NewLedger()
		var wg sync.WaitGroup
		if seed%10 == 0 {
			// Queries from another goroutine while the history is fed, for the
			// race detector.
			done := make(chan struct{})
			wg.Go(func() {
				qr := rand.New(rand.NewPCG(seed, 8))
				for {
					select {
					case <-done:
						return
					default:
						live.Metrics(randomQuery(qr, end))
					}
				}
			})
			defer close(done)
		}
		for _, o := range ops {
			o.apply(live)
			if r.IntN(4) == 0 {
				live.Metrics(randomQuery(r, end))
			}
		}

		fresh := NewLedger()
		for _, o := range ops {
			o.apply(fresh)
		}
		commitsFirst := NewLedger()
		for _, o := range ops {
			if o.event == nil {
				o.apply(commitsFirst)
			}
		}
		for _, o := range ops {
			if o.event != nil {
				o.apply(commitsFirst)
			}
		}

		queries := []Query{{From: t0.Add(-10 * days), To: end.Add(time.Hour)}}
		for range 8 {
			queries = append(queries, randomQuery(r, end))
		}
		for _, q := range queries {
			want := fresh.Metrics(q)
			if got := live.Metrics(q); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, query %+v: fed as it happened\n%+v\nfed at once\n%+v", seed, q, got, want)
			}
			if got := commitsFirst.Metrics(q); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, query %+v: commits first\n%+v\nas recorded\n%+v", seed, q, got, want)
			}
		}
		if live.LastEventID() != fresh.LastEventID() {
			t.Fatalf("seed %d: last event %d and %d", seed, live.LastEventID(), fresh.LastEventID())
		}
		// The history is not trivial: a test that compares zeros proves nothing.
		all := fresh.Metrics(queries[0])
		if seed == 0 && (all.Deployments == 0 || all.LeadTime.Samples == 0 || all.ChangeFailureRate.Failed == 0 ||
			all.RecoveryTime.Recoveries == 0 || all.ReworkRate.Rework == 0 || all.CaughtBeforeProduction == 0) {
			t.Fatalf("seed 0 history too poor: %+v", all)
		}
	}
}
