package dora

import (
	"slices"
)

// outcomes is what an app's history says about each promotion, laid out for
// window queries by binary search.
type outcomes struct {
	promoT    []int64 // promotion times, in order
	failedCum []int32 // failedCum[i]: failed promotions among the first i
	reworkCum []int32 // reworkCum[i]: rework promotions among the first i
	recEnd    []int64 // recoveries by end time
	recSec    []float64
}

// incident is what the sweep learns about one incident.
type incident struct {
	openedT    int64
	opened     bool
	livePromo  int // the promotion live when it opened, -1 for none
	causePromo int // the promotion of the release it names, -1 for none
	resolvedT  int64
	resolved   bool
	fixPromo   int // the promotion of the release that resolved it, -1 for none
}

// derive sweeps an app's facts in causal order and decides, for each promotion,
// whether it failed and whether it was rework, and lists the recoveries.
func (o *outcomes) derive(facts []fact, promos []int32) {
	n := len(promos)
	failed := make([]bool, n)
	rework := make([]bool, n)
	rolledBackAt := make([]int64, n) // the first rollback that failed it, 0 none
	hasIncident := make([]bool, n)
	promoT := o.promoT[:0]

	lastPromoOf := make(map[int]int) // version → its latest promotion so far
	restored := make(map[int]bool)   // versions put back live by a rollback
	incidents := make(map[string]*incident)
	var order []*incident // first-seen order, so recoveries are deterministic
	open := 0
	cur := -1

	get := func(key string) *incident {
		in := incidents[key]
		if in == nil {
			in = &incident{livePromo: -1, causePromo: -1, fixPromo: -1}
			incidents[key] = in
			order = append(order, in)
		}
		return in
	}
	for _, f := range facts {
		switch f.kind {
		case kindPromoted:
			cur++
			promoT = append(promoT, f.t)
			if open > 0 {
				rework[cur] = true
			}
			lastPromoOf[f.version] = cur
			delete(restored, f.version)
		case kindRolledBack:
			if p, ok := lastPromoOf[f.version]; ok && !restored[f.version] {
				failed[p] = true
				if rolledBackAt[p] == 0 {
					rolledBackAt[p] = f.t
				}
			}
			restored[f.other] = true
		case kindOpened:
			in := get(f.incident)
			if in.opened {
				continue // opened twice: the first one stands
			}
			in.opened, in.openedT, in.livePromo = true, f.t, cur
			if p, ok := lastPromoOf[f.version]; ok && f.version != 0 {
				in.causePromo = p
			}
			if !in.resolved {
				open++
			}
		case kindResolved:
			in := get(f.incident)
			if in.resolved {
				continue
			}
			in.resolved, in.resolvedT = true, f.t
			if p, ok := lastPromoOf[f.other]; ok && f.other != 0 {
				in.fixPromo = p
				rework[p] = true
			}
			if in.opened {
				open--
			}
		}
	}

	var recs []recovery
	for _, in := range order {
		if !in.opened {
			continue
		}
		link := in.causePromo
		if link < 0 && in.livePromo >= 0 && in.resolved && in.fixPromo > in.livePromo {
			link = in.livePromo
		}
		if link < 0 {
			continue
		}
		failed[link] = true
		hasIncident[link] = true
		if in.resolved && in.resolvedT >= in.openedT {
			recs = append(recs, recovery{end: in.resolvedT, sec: float64(in.resolvedT-in.openedT) / 1e9})
		}
	}
	for i := range n {
		if failed[i] && !hasIncident[i] && rolledBackAt[i] != 0 {
			recs = append(recs, recovery{end: rolledBackAt[i], sec: float64(rolledBackAt[i]-promoT[i]) / 1e9})
		}
	}
	slices.SortFunc(recs, func(a, b recovery) int {
		if a.end != b.end {
			if a.end < b.end {
				return -1
			}
			return 1
		}
		switch {
		case a.sec < b.sec:
			return -1
		case a.sec > b.sec:
			return 1
		}
		return 0
	})

	o.promoT = promoT
	o.failedCum = cumulate(o.failedCum, failed)
	o.reworkCum = cumulate(o.reworkCum, rework)
	o.recEnd, o.recSec = o.recEnd[:0], o.recSec[:0]
	for _, r := range recs {
		o.recEnd = append(o.recEnd, r.end)
		o.recSec = append(o.recSec, r.sec)
	}
}

type recovery struct {
	end int64
	sec float64
}

func cumulate(dst []int32, flags []bool) []int32 {
	dst = append(dst[:0], 0)
	var c int32
	for _, f := range flags {
		if f {
			c++
		}
		dst = append(dst, c)
	}
	return dst
}
