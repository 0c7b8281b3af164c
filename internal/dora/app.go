package dora

import (
	"cmp"
	"slices"
	"strconv"
)

// Kinds of the events an app keeps, in the causal order used for events with
// the same timestamp (see the package doc).
const (
	kindPromoted uint8 = iota
	kindRolledBack
	kindOpened
	kindResolved
)

// fact is one event an app keeps, reduced to what the metrics read.
type fact struct {
	t        int64 // Unix nanoseconds
	id       int64
	kind     uint8
	version  int    // promoted, opened: the release; rolled back: from
	other    int    // rolled back: to; resolved: resolved_by
	commit   int32  // promoted: the commit's node, -1 for none
	incident string // opened, resolved
}

func factOrder(a, b fact) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// app is one app's share of the ledger: its facts as fed, and what was derived
// from them, computed again only when they changed.
type app struct {
	name, team string
	graph      graph
	facts      []fact  // sorted by factOrder once refreshed
	rejects    []int64 // times of release.rejected, sorted once refreshed
	unsorted   bool
	dirty      bool // facts changed since the outcomes were derived

	// Lead times: promotions are walked in order; leadDone of them were.
	promos    []int32 // indexes in facts of the promotions, in order
	leadDone  int
	leadLast  fact // the last promotion walked
	leadStale bool // walk everything again (a late commit or an earlier promotion)
	// One lead time per commit live, in seconds, dated by the promotion that
	// brought it live (two slices: a window's samples are copied in one move).
	sampleT   []int64
	sampleSec []float64

	out outcomes
}

func (a *app) add(e Event, d *eventData) {
	f := fact{t: e.Time.UnixNano(), id: e.ID, commit: -1, version: e.Release}
	switch e.Type {
	case TypeRejected:
		if n := len(a.rejects); n > 0 && a.rejects[n-1] > f.t {
			a.unsorted = true
		}
		a.rejects = append(a.rejects, f.t)
		return
	case TypePromoted:
		f.kind = kindPromoted
		if d.Commit != "" {
			f.commit = a.graph.id(d.Commit)
		}
		if a.leadDone > 0 && factOrder(f, a.leadLast) < 0 {
			a.leadStale = true // an imported past deployment came before ones walked
		}
	case TypeRolledBack:
		f.kind = kindRolledBack
		f.version, f.other = d.From, d.To
	case TypeIncidentOpened:
		f.kind = kindOpened
		f.incident = incidentKey(d.Incident)
	case TypeIncidentResolve:
		f.kind = kindResolved
		f.incident = incidentKey(d.Incident)
		f.other = e.Release
		if d.ResolvedBy != nil {
			f.other = *d.ResolvedBy
		}
	}
	if f.incident == "" && (f.kind == kindOpened || f.kind == kindResolved) {
		f.incident = "event:" + strconv.FormatInt(e.ID, 10) // no id: it cannot be matched
	}
	if n := len(a.facts); n > 0 && factOrder(a.facts[n-1], f) > 0 {
		a.unsorted = true
	}
	a.facts = append(a.facts, f)
	a.dirty = true
}

// refresh brings what is derived up to date with the facts.
func (a *app) refresh(l *Ledger) {
	if a.unsorted {
		slices.SortFunc(a.facts, factOrder)
		slices.Sort(a.rejects)
		a.unsorted = false
	}
	if a.dirty {
		a.promos = a.promos[:0]
		for i := range a.facts {
			if a.facts[i].kind == kindPromoted {
				a.promos = append(a.promos, int32(i))
			}
		}
	}
	if a.leadStale {
		a.graph.clearLive()
		a.sampleT, a.sampleSec = a.sampleT[:0], a.sampleSec[:0]
		a.leadDone = 0
		a.leadStale = false
	}
	for ; a.leadDone < len(a.promos); a.leadDone++ {
		p := a.facts[a.promos[a.leadDone]]
		a.leadLast = p
		if p.commit < 0 {
			continue
		}
		l.stack = a.graph.bringLive(p.commit, l.stack, func(at int64) {
			sec := float64(p.t-at) / 1e9
			if sec < 0 {
				sec = 0 // an author clock ahead of the platform's
			}
			a.sampleT = append(a.sampleT, p.t)
			a.sampleSec = append(a.sampleSec, sec)
		})
	}
	if a.dirty {
		a.out.derive(a.facts, a.promos)
		a.dirty = false
	}
}
