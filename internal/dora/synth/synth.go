// Package synth generates deterministic delivery histories (commits and the
// events prosper records) of many apps, for the dora benchmarks.
package synth

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/prosperhq/prosper/internal/dora"
)

// Options size a history.
type Options struct {
	Apps, Teams   int
	Days          int
	DeploysPerApp int // promotions per app
	CommitsPerApp int // about; each deployment brings 0 to twice the mean
	Seed          uint64
	End           time.Time // the history covers the Days before End
}

// App is a generated app.
type App struct {
	Name, Team string
}

// Generate makes the history. Each app's commits are handed to commits as soon
// as they are made, so that millions of them need not be held at once; the
// events of all apps are returned in time order with IDs from 1.
//
// Per app, promotions are spread uniformly over the window; each brings a few
// commits authored since the previous one (15% of them through a merged side
// branch, 5% of deployments bring none). 3% are rolled back within 30 minutes,
// 4% cause an incident (60% naming the release, half of them fixed by the next
// promotion, the rest resolved by hand), and 5% follow a release rejected in
// mirror production.
func Generate(o Options, commits func(app string, cs []dora.Commit)) ([]App, []dora.Event) {
	r := rand.New(rand.NewPCG(o.Seed, 1))
	start := o.End.Add(-time.Duration(o.Days) * 24 * time.Hour)
	span := int64(o.End.Sub(start))
	var apps []App
	var events []dora.Event
	add := func(app, typ string, t time.Time, release int, data any) {
		raw, _ := json.Marshal(data)
		events = append(events, dora.Event{Time: t, Type: typ, App: app, Release: release, Data: raw})
	}
	meanCommits := max(1, o.CommitsPerApp/max(1, o.DeploysPerApp))
	for i := range o.Apps {
		name := fmt.Sprintf("app%03d", i)
		apps = append(apps, App{Name: name, Team: fmt.Sprintf("team%02d", i%max(1, o.Teams))})
		times := make([]int64, o.DeploysPerApp)
		for k := range times {
			times[k] = r.Int64N(span)
		}
		slices.Sort(times)
		var cs []dora.Commit
		n := 0
		sha := func() string {
			n++
			s := sha1.Sum([]byte(name + "/" + strconv.Itoa(n)))
			return hex.EncodeToString(s[:])
		}
		head := ""
		prev := start.Add(-48 * time.Hour)
		version := 0
		for k, tn := range times {
			t := start.Add(time.Duration(tn))
			authored := func() time.Time {
				lo, hi := prev.Add(-48*time.Hour), t.Add(-5*time.Minute)
				if !hi.After(lo) {
					return lo
				}
				return lo.Add(time.Duration(r.Int64N(int64(hi.Sub(lo)))))
			}
			count := r.IntN(2*meanCommits + 1)
			if r.IntN(20) == 0 {
				count = 0
			}
			if count >= 2 && r.IntN(100) < 15 {
				// A side branch of count-1 commits merged into main.
				base, tip := head, head
				for range count - 1 {
					c := dora.Commit{SHA: sha(), AuthorTime: authored()}
					if tip != "" {
						c.Parents = []string{tip}
					}
					cs = append(cs, c)
					tip = c.SHA
				}
				parents := []string{tip}
				if base != "" {
					parents = []string{base, tip}
				}
				m := dora.Commit{SHA: sha(), Parents: parents, AuthorTime: authored()}
				cs = append(cs, m)
				head = m.SHA
			} else {
				for range count {
					c := dora.Commit{SHA: sha(), AuthorTime: authored()}
					if head != "" {
						c.Parents = []string{head}
					}
					cs = append(cs, c)
					head = c.SHA
				}
			}
			if r.IntN(20) == 0 {
				version++
				add(name, dora.TypeRejected, t.Add(-time.Duration(10+r.IntN(50))*time.Minute), version, map[string]any{})
			}
			version++
			add(name, dora.TypePromoted, t, version, map[string]any{"commit": head, "previous": version - 1, "source": "git"})
			switch x := r.IntN(100); {
			case x < 3 && version > 1:
				add(name, dora.TypeRolledBack, t.Add(time.Duration(2+r.IntN(28))*time.Minute), version-1,
					map[string]any{"from": version, "to": version - 1, "reason": "automatic: gates"})
			case x < 7:
				id := i*o.DeploysPerApp + k + 1
				opened := t.Add(time.Duration(5+r.IntN(115)) * time.Minute)
				release, cause := version, "crash_loop"
				if r.IntN(10) < 4 {
					release, cause = 0, "manual"
				}
				add(name, dora.TypeIncidentOpened, opened, release, map[string]any{"incident": id, "cause": cause})
				if r.IntN(2) == 0 && k+1 < len(times) {
					next := start.Add(time.Duration(times[k+1]))
					if next.After(opened) {
						// Fixed by the next promotion (its version is the next one
						// unless a rejection comes between: close enough).
						add(name, dora.TypeIncidentResolve, next.Add(time.Second), version+1,
							map[string]any{"incident": id, "resolved_by": version + 1})
						break
					}
				}
				resolved := opened.Add(time.Duration(10+r.IntN(590)) * time.Minute)
				add(name, dora.TypeIncidentResolve, resolved, 0, map[string]any{"incident": id, "resolved_by": 0})
			}
			prev = t
		}
		commits(name, cs)
	}
	slices.SortStableFunc(events, func(a, b dora.Event) int { return a.Time.Compare(b.Time) })
	for k := range events {
		events[k].ID = int64(k + 1)
	}
	return apps, events
}
