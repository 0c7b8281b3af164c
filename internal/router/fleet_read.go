package router

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"
)

// totalsLocked sums the local router's totals with the replicas'.
func (f *Fleet) totalsLocked(now time.Time) []releaseTotals {
	merged := map[releaseKey]*releaseTotals{}
	get := func(k releaseKey) *releaseTotals {
		t := merged[k]
		if t == nil {
			t = &releaseTotals{app: k.app, release: k.release}
			merged[k] = t
		}
		return t
	}
	for _, m := range f.local.metrics.all() {
		t := m.totals()
		merged[releaseKey{m.app, m.release}] = &t
	}
	for k, fr := range f.releases {
		get(k).add(fr.totals)
	}
	for _, r := range f.replicas {
		for k, n := range r.inFlight {
			get(k).inFlight += n
		}
	}
	out := make([]releaseTotals, 0, len(merged))
	for _, t := range sortedByRelease(merged) {
		out = append(out, *t)
	}
	return out
}

// Metrics is Router.Metrics summed over the local router and the replicas;
// quantiles come from the merged sketches.
func (f *Fleet) Metrics() []ReleaseMetrics {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	return readings(f.totalsLocked(now))
}

func readings(all []releaseTotals) []ReleaseMetrics {
	out := make([]ReleaseMetrics, len(all))
	for i, t := range all {
		out[i] = t.reading()
	}
	return out
}

// Window returns the merged metrics with what is missing of them since since.
func (f *Fleet) Window(since time.Time) Window {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	missing := f.missingLocked(since, now)
	return Window{Since: since, At: now, Releases: readings(f.totalsLocked(now)), Complete: len(missing) == 0, Missing: missing}
}

// Missing lists what is missing of the replicas' data since since.
func (f *Fleet) Missing(since time.Time) []Missing {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	return f.missingLocked(since, now)
}

// MirrorLosses lists what may be missing of the app's mirrored exchanges
// since since: exchanges a replica lost (sequence holes, or given up before
// sending), and every stretch of a replica's missing data, during which its
// exchanges may have been lost too.
func (f *Fleet) MirrorLosses(app string, since time.Time) []Missing {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	var out []Missing
	for _, l := range f.losses {
		if l.app == app && !l.at.Before(since) {
			out = append(out, Missing{Replica: l.replica, From: l.at, To: l.at,
				Reason: fmt.Sprintf("%d mirrored exchange(s) of %s lost", l.n, app)})
		}
	}
	return append(out, f.missingLocked(since, now)...)
}

// TakeIntervalLatency is Router.TakeIntervalLatency over the local router
// and the replicas: their interval sketches are merged, then emptied.
func (f *Fleet) TakeIntervalLatency() []IntervalLatency {
	f.mu.Lock()
	defer f.mu.Unlock()
	merged := map[releaseKey]*latencySketch{}
	for _, m := range f.local.metrics.all() {
		s := newLatencySketch()
		m.interval.takeInto(s)
		merged[releaseKey{m.app, m.release}] = s
	}
	for k, fr := range f.releases {
		s := merged[k]
		if s == nil {
			s = newLatencySketch()
			merged[k] = s
		}
		fr.interval.takeInto(s)
	}
	keys := make([]releaseKey, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b releaseKey) int {
		return cmp.Or(cmp.Compare(a.app, b.app), cmp.Compare(a.release, b.release))
	})
	out := make([]IntervalLatency, len(keys))
	for i, k := range keys {
		l := merged[k].reading()
		out[i] = IntervalLatency{App: k.app, Release: k.release, Count: int64(l.count), P50: l.p50, P95: l.p95, P99: l.p99}
	}
	return out
}

// InFlight is Router.InFlight summed over the local router and the replicas
// that may still serve. A replica that has not reported the current table yet
// counts one request more: it may still send requests to a release the
// control plane switched away from. A silent replica counts its last figures
// until it is forgotten.
func (f *Fleet) InFlight(app string, release int) int64 {
	n := f.local.InFlight(app, release)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweepLocked(f.now())
	k := releaseKey{app, release}
	for _, r := range f.replicas {
		if r.goodbye {
			continue
		}
		n += r.inFlight[k]
		if r.tableRev < f.wantRev {
			n++
		}
	}
	return n
}

// MirrorMetrics is Router.MirrorMetrics summed over the local router and the
// replicas.
func (f *Fleet) MirrorMetrics() []MirrorMetrics {
	all := f.mirrorTotals()
	out := make([]MirrorMetrics, len(all))
	for i, t := range all {
		out[i] = t.reading()
	}
	return out
}

func (f *Fleet) mirrorTotals() []mirrorTotals {
	f.mu.Lock()
	defer f.mu.Unlock()
	merged := map[releaseKey]*mirrorTotals{}
	for _, m := range f.local.mirrorMetrics.all() {
		t := m.totals()
		merged[releaseKey{m.app, m.release}] = &t
	}
	for k, mt := range f.mirrors {
		t := merged[k]
		if t == nil {
			t = &mirrorTotals{app: k.app, release: k.release}
			merged[k] = t
		}
		t.add(*mt)
	}
	out := make([]mirrorTotals, 0, len(merged))
	for _, t := range sortedByRelease(merged) {
		out = append(out, *t)
	}
	return out
}

// WritePrometheus is Router.WritePrometheus with every series summed over the
// local router and the replicas (no per-replica label).
func (f *Fleet) WritePrometheus(w io.Writer) error {
	f.mu.Lock()
	now := f.now()
	f.sweepLocked(now)
	rels := f.totalsLocked(now)
	f.mu.Unlock()
	return writePrometheus(w, rels, f.mirrorTotals())
}

// Replicas lists the replicas heard from and not forgotten, by name.
func (f *Fleet) Replicas() []ReplicaStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	var out []ReplicaStatus
	for _, r := range f.sortedReplicasLocked() {
		st := ReplicaStatus{Name: r.name, Boot: r.boot, State: ReplicaReporting, FirstReport: r.firstSeen, LastReport: r.lastSeen,
			Reports: r.reports, Gaps: r.gaps, TableRevision: r.tableRev}
		switch {
		case r.goodbye:
			st.State = ReplicaLeft
		case f.silentLocked(r, now):
			st.State = ReplicaMissing
		}
		for _, n := range r.inFlight {
			st.InFlight += n
		}
		out = append(out, st)
	}
	return out
}
