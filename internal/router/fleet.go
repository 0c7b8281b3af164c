package router

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Defaults of FleetConfig.
const (
	// DefaultSilence is how long a replica that was reporting may stay silent
	// before its data counts as missing: three reports.
	DefaultSilence = 3 * time.Second
	// DefaultForget is how long a replica that vanished (no goodbye) is kept
	// before it is forgotten; windows that overlap its silence stay
	// incomplete for as long as the fleet remembers problems (problemKeep).
	DefaultForget = time.Minute
)

// problemKeep is how long a gap or a silence is remembered after it ended, so
// that a reader of a window that overlaps it still learns of it.
const problemKeep = 10 * time.Minute

// FleetConfig configures a Fleet. Zero values take the defaults.
type FleetConfig struct {
	Silence time.Duration
	Forget  time.Duration
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Fleet sums the figures of the control plane's own router (local) with the
// reports of the router replicas, and knows when those figures are
// incomplete: a replica's reports carry sequence numbers, and a gap, or a
// replica that was reporting and went silent without a goodbye, makes the
// data of that time missing. Its readers mirror the Router's own (Metrics,
// TakeIntervalLatency, InFlight, MirrorMetrics, WritePrometheus); with no
// replica they answer what the local router does.
type Fleet struct {
	local   *Router
	silence time.Duration
	forget  time.Duration
	now     func() time.Time

	mu       sync.Mutex
	replicas map[string]*fleetReplica
	ended    map[string]time.Time // boots that said goodbye or were replaced, and when
	releases map[releaseKey]*fleetRelease
	mirrors  map[releaseKey]*mirrorTotals
	problems []Missing
	losses   []exchangeLoss
	exSeq    map[bootApp]uint64
	wantRev  uint64 // revision of the table the replicas should serve
}

// Missing is a stretch of time for which a replica's data is missing.
type Missing struct {
	Replica string    `json:"replica"`
	Reason  string    `json:"reason"`
	From    time.Time `json:"from"`
	// To is when the data came back or the replica was forgotten; zero while
	// the replica is still silent.
	To time.Time `json:"to,omitzero"`
}

// Window is the merged figures of every router with whether they are complete
// since a time: a reader that takes a ratio over the window must not judge it
// unless Complete.
type Window struct {
	Since    time.Time        `json:"since"`
	At       time.Time        `json:"at"`
	Releases []ReleaseMetrics `json:"releases"`
	Complete bool             `json:"complete"`
	Missing  []Missing        `json:"missing,omitempty"`
}

// ReplicaStatus describes one router replica the control plane hears from.
type ReplicaStatus struct {
	Name string `json:"name"`
	Boot string `json:"boot"`
	// State is "reporting", "missing" (silent for longer than the silence
	// limit without a goodbye) or "left" (said goodbye).
	State       string    `json:"state"`
	FirstReport time.Time `json:"first_report"`
	LastReport  time.Time `json:"last_report"`
	Reports     int64     `json:"reports"`
	// Gaps counts the reports lost on the way (sequence numbers never seen).
	Gaps          int64  `json:"gaps"`
	TableRevision uint64 `json:"table_revision"`
	InFlight      int64  `json:"in_flight"`
}

// Replica states.
const (
	ReplicaReporting = "reporting"
	ReplicaMissing   = "missing"
	ReplicaLeft      = "left"
)

type fleetReplica struct {
	name, boot          string
	seq, firstSeq       uint64
	firstSeen, lastSeen time.Time
	reports, gaps       int64
	tableRev            uint64
	goodbye             bool
	inFlight            map[releaseKey]int64
}

type fleetRelease struct {
	totals   releaseTotals // cumulative since the fleet started; inFlight unused
	interval *latencySketch
}

type bootApp struct{ boot, app string }

type exchangeLoss struct {
	replica, app string
	n            int64
	at           time.Time
}

// NewFleet returns a fleet around the control plane's own router.
func NewFleet(local *Router, cfg FleetConfig) *Fleet {
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fleet{
		local: local, silence: cfg.Silence, forget: cfg.Forget, now: cfg.Now,
		replicas: map[string]*fleetReplica{}, ended: map[string]time.Time{},
		releases: map[releaseKey]*fleetRelease{}, mirrors: map[releaseKey]*mirrorTotals{},
		exSeq: map[bootApp]uint64{},
	}
}

// Apply takes in a replica's report. A report seen before (same boot and a
// sequence number already applied) is ignored, so redelivery is harmless. It
// returns an error only for a report it cannot read (a bad sketch); the
// counters are applied all the same.
func (f *Fleet) Apply(rep Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepLocked(now)
	if _, ok := f.ended[rep.Boot]; ok || rep.Replica == "" {
		return nil
	}
	r := f.replicas[rep.Replica]
	if r != nil && r.boot != rep.Boot {
		// The same replica (name) started again.
		if !r.goodbye {
			f.problems = append(f.problems, Missing{Replica: r.name, From: r.lastSeen, To: now,
				Reason: "restarted without a goodbye: what it saw after its last report is lost"})
		}
		f.ended[r.boot] = now
		r = nil
	}
	if r == nil {
		// Reports before the first one seen here (sent before this control
		// plane started, or consumed by an earlier one) are not a gap.
		r = &fleetReplica{name: rep.Replica, boot: rep.Boot, seq: rep.Seq - 1, firstSeq: rep.Seq, firstSeen: now, lastSeen: now}
		f.replicas[rep.Replica] = r
	}
	if rep.Seq <= r.seq {
		return nil // seen already
	}
	if lost := rep.Seq - r.seq - 1; lost > 0 {
		r.gaps += int64(lost)
		f.problems = append(f.problems, Missing{Replica: r.name, From: r.lastSeen, To: now,
			Reason: fmt.Sprintf("%d report(s) lost (sequence %d to %d)", lost, r.seq+1, rep.Seq-1)})
	}
	r.seq, r.lastSeen, r.tableRev, r.goodbye = rep.Seq, now, rep.TableRevision, rep.Goodbye
	r.reports++
	r.inFlight = map[releaseKey]int64{}
	var errs []error
	for _, d := range rep.Releases {
		k := releaseKey{d.App, d.Release}
		if d.InFlight != 0 && !rep.Goodbye {
			r.inFlight[k] = d.InFlight
		}
		fr := f.releases[k]
		if fr == nil {
			fr = &fleetRelease{totals: releaseTotals{app: d.App, release: d.Release, latency: newLatencySketch()}, interval: newLatencySketch()}
			f.releases[k] = fr
		}
		fr.totals.add(releaseTotals{requests: d.Requests, status1xx: d.Status1xx, status2xx: d.Status2xx,
			status3xx: d.Status3xx, status4xx: d.Status4xx, status5xx: d.Status5xx, proxyErrors: d.ProxyErrors})
		if d.Latency != nil {
			l, err := decodeLatency(d.Latency, d.LatencySum)
			if err != nil {
				errs = append(errs, fmt.Errorf("replica %s: latency of %s v%d: %w", rep.Replica, d.App, d.Release, err))
				continue
			}
			fr.totals.latency.merge(l)
			fr.interval.merge(l)
		}
	}
	for _, d := range rep.Mirrors {
		k := releaseKey{d.App, d.Release}
		mt := f.mirrors[k]
		if mt == nil {
			mt = &mirrorTotals{app: d.App, release: d.Release, latency: newLatencySketch()}
			f.mirrors[k] = mt
		}
		o := mirrorTotals{mirrored: d.Mirrored, status5xx: d.Status5xx, errors: d.Errors, dropped: d.Dropped, skipped: d.Skipped}
		if d.Latency != nil {
			l, err := decodeLatency(d.Latency, d.LatencySum)
			if err != nil {
				errs = append(errs, fmt.Errorf("replica %s: mirror latency of %s v%d: %w", rep.Replica, d.App, d.Release, err))
			} else {
				o.latency = l
			}
		}
		mt.add(o)
	}
	for app, n := range rep.ExchangesLost {
		if n > 0 {
			f.losses = append(f.losses, exchangeLoss{replica: rep.Replica, app: app, n: n, at: now})
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("apply report: %w", errs[0])
	}
	return nil
}

// ApplyExchange checks a replica's mirrored exchange against the sequence of
// its app and reports whether to deliver it: false for one seen already. A
// hole in the sequence is recorded as lost exchanges (see MirrorLosses).
func (f *Fleet) ApplyExchange(e ReplicaExchange) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	k := bootApp{e.Boot, e.Exchange.App}
	last, seen := f.exSeq[k]
	if seen && e.Seq <= last {
		return false
	}
	lost := uint64(0)
	switch {
	case seen:
		lost = e.Seq - last - 1
	case e.Seq > 1:
		// The first exchange seen of this run: the earlier ones are lost only
		// if this control plane has heard the replica since it started.
		if r := f.replicas[e.Replica]; r != nil && r.boot == e.Boot && r.firstSeq == 1 {
			lost = e.Seq - 1
		}
	}
	if lost > 0 {
		f.losses = append(f.losses, exchangeLoss{replica: e.Replica, app: e.Exchange.App, n: int64(lost), at: now})
	}
	f.exSeq[k] = e.Seq
	return true
}

// TableChanging says the control plane is publishing a new table: until
// SetTableRevision, every replica counts as serving an older one.
func (f *Fleet) TableChanging() {
	f.mu.Lock()
	f.wantRev = math.MaxUint64
	f.mu.Unlock()
}

// SetTableRevision sets the revision of the table the replicas should serve.
func (f *Fleet) SetTableRevision(rev uint64) {
	f.mu.Lock()
	f.wantRev = rev
	f.mu.Unlock()
}

// sweepLocked forgets the replicas silent for longer than the forget time,
// and the problems and ended runs older than problemKeep.
func (f *Fleet) sweepLocked(now time.Time) {
	for name, r := range f.replicas {
		if now.Sub(r.lastSeen) <= f.forget {
			continue
		}
		if !r.goodbye {
			// Sweeps are lazy: the silence ended when it was due to, not now.
			f.problems = append(f.problems, Missing{Replica: name, From: r.lastSeen, To: r.lastSeen.Add(f.forget),
				Reason: fmt.Sprintf("stopped reporting without a goodbye; forgotten after %s", f.forget)})
		}
		f.ended[r.boot] = now
		delete(f.replicas, name)
	}
	cut := now.Add(-problemKeep)
	f.problems = slices.DeleteFunc(f.problems, func(p Missing) bool { return p.To.Before(cut) })
	f.losses = slices.DeleteFunc(f.losses, func(l exchangeLoss) bool { return l.at.Before(cut) })
	for boot, at := range f.ended {
		if at.Before(cut) {
			delete(f.ended, boot)
			for k := range f.exSeq {
				if k.boot == boot {
					delete(f.exSeq, k)
				}
			}
		}
	}
}

// silentLocked reports whether r's data is missing now.
func (f *Fleet) silentLocked(r *fleetReplica, now time.Time) bool {
	return !r.goodbye && now.Sub(r.lastSeen) > f.silence
}

// missingLocked lists the problems that overlap [since, now].
func (f *Fleet) missingLocked(since, now time.Time) []Missing {
	var out []Missing
	for _, p := range f.problems {
		if p.To.After(since) {
			out = append(out, p)
		}
	}
	for _, r := range f.sortedReplicasLocked() {
		if f.silentLocked(r, now) {
			out = append(out, Missing{Replica: r.name, From: r.lastSeen,
				Reason: fmt.Sprintf("no report for %s and no goodbye", now.Sub(r.lastSeen).Round(time.Second))})
		}
	}
	return out
}

func (f *Fleet) sortedReplicasLocked() []*fleetReplica {
	out := make([]*fleetReplica, 0, len(f.replicas))
	for _, r := range f.replicas {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *fleetReplica) int { return cmp.Compare(a.name, b.name) })
	return out
}
