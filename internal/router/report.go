package router

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Report is what a router replica (`prosper router`) tells the control plane
// once a second: what its router saw since its previous report. The control
// plane sums the reports of every replica with its own router's figures (see
// Fleet).
//
// Counters are deltas, and latencies the sketch of the interval, so the
// figures of several replicas add up; Seq numbers the reports of one run of a
// replica (Boot) from 1 without holes, so that a lost report is a gap the
// control plane sees rather than numbers it silently lacks.
type Report struct {
	Replica string    `json:"replica"`
	Boot    string    `json:"boot"`
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	// Goodbye marks the last report of a replica that stops cleanly: its
	// silence from then on is not missing data.
	Goodbye bool `json:"goodbye,omitempty"`
	// TableRevision is the revision of the routing table the replica serves
	// (0: none yet). The control plane counts a replica behind the current
	// table as possibly still routing to a release it switched away from.
	TableRevision uint64         `json:"table_revision"`
	Releases      []ReleaseDelta `json:"releases,omitempty"`
	Mirrors       []MirrorDelta  `json:"mirrors,omitempty"`
	// ExchangesLost counts, by app, the mirrored exchanges the replica could
	// not send since its previous report (its queue was full, or the send
	// failed).
	ExchangesLost map[string]int64 `json:"exchanges_lost,omitempty"`
}

// ReleaseDelta is one release's part of a Report.
type ReleaseDelta struct {
	App     string `json:"app"`
	Release int    `json:"release"`
	// Counters since the previous report.
	Requests    int64 `json:"requests,omitempty"`
	Status1xx   int64 `json:"status_1xx,omitempty"`
	Status2xx   int64 `json:"status_2xx,omitempty"`
	Status3xx   int64 `json:"status_3xx,omitempty"`
	Status4xx   int64 `json:"status_4xx,omitempty"`
	Status5xx   int64 `json:"status_5xx,omitempty"`
	ProxyErrors int64 `json:"proxy_errors,omitempty"`
	// InFlight is a gauge: the requests being served when the report was
	// made. A release missing from a report has none in flight.
	InFlight int64 `json:"in_flight,omitempty"`
	// Latency is the ddsketch (sketches-go encoding) of the latencies in
	// milliseconds since the previous report, LatencySum their exact sum.
	Latency    []byte  `json:"latency,omitempty"`
	LatencySum float64 `json:"latency_sum,omitempty"`
}

// MirrorDelta is one candidate's part of a Report: the copies the replica
// sent it since the previous report.
type MirrorDelta struct {
	App        string  `json:"app"`
	Release    int     `json:"release"`
	Mirrored   int64   `json:"mirrored,omitempty"`
	Status5xx  int64   `json:"status_5xx,omitempty"`
	Errors     int64   `json:"errors,omitempty"`
	Dropped    int64   `json:"dropped,omitempty"`
	Skipped    int64   `json:"skipped,omitempty"`
	Latency    []byte  `json:"latency,omitempty"`
	LatencySum float64 `json:"latency_sum,omitempty"`
}

// ReplicaExchange is a mirrored exchange as a replica sends it: Seq numbers
// the exchanges of one app from one run of the replica from 1 without holes,
// so that the control plane learns of exchanges lost on the way.
type ReplicaExchange struct {
	Replica  string   `json:"replica"`
	Boot     string   `json:"boot"`
	Seq      uint64   `json:"seq"`
	Exchange Exchange `json:"exchange"`
}

// Reporter makes a replica's reports from its router. It must be the only
// reader of the router's interval latencies: each report takes them (the
// replica has no metrics history calling TakeIntervalLatency).
type Reporter struct {
	rt      *Router
	replica string
	boot    string

	mu         sync.Mutex
	seq        uint64
	prev       map[releaseKey]releaseCounters
	prevMirror map[releaseKey]mirrorCounters
	lost       map[string]int64
	exSeq      map[string]uint64
}

type releaseCounters struct {
	requests, s1, s2, s3, s4, s5, proxyErrors int64
}

type mirrorCounters struct {
	mirrored, status5xx, errors, dropped, skipped int64
}

// NewReporter returns the reporter of a replica named replica (its pod's
// name), with a new random boot ID: a replica restarted under the same name
// starts a new sequence.
func NewReporter(rt *Router, replica string) *Reporter {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return &Reporter{
		rt: rt, replica: replica, boot: hex.EncodeToString(b[:]),
		prev: map[releaseKey]releaseCounters{}, prevMirror: map[releaseKey]mirrorCounters{},
		lost: map[string]int64{}, exSeq: map[string]uint64{},
	}
}

// Boot returns the reporter's boot ID.
func (r *Reporter) Boot() string { return r.boot }

// Next returns the next report: the deltas since the previous one. goodbye
// marks the last one; tableRevision is the revision of the table served.
func (r *Reporter) Next(goodbye bool, tableRevision uint64, now time.Time) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rep := Report{Replica: r.replica, Boot: r.boot, Seq: r.seq, Time: now.UTC(), Goodbye: goodbye, TableRevision: tableRevision}
	for _, m := range r.rt.metrics.all() {
		k := releaseKey{m.app, m.release}
		cur := releaseCounters{
			requests: m.requests.Load(), s1: m.status1xx.Load(), s2: m.status2xx.Load(), s3: m.status3xx.Load(),
			s4: m.status4xx.Load(), s5: m.status5xx.Load(), proxyErrors: m.proxyErrors.Load(),
		}
		p := r.prev[k]
		r.prev[k] = cur
		d := ReleaseDelta{
			App: m.app, Release: m.release,
			Requests: cur.requests - p.requests, Status1xx: cur.s1 - p.s1, Status2xx: cur.s2 - p.s2,
			Status3xx: cur.s3 - p.s3, Status4xx: cur.s4 - p.s4, Status5xx: cur.s5 - p.s5,
			ProxyErrors: cur.proxyErrors - p.proxyErrors, InFlight: m.inFlight.Load(),
		}
		d.Latency, d.LatencySum = m.interval.takeEncoded()
		if cur != p || d.InFlight != 0 || d.Latency != nil {
			rep.Releases = append(rep.Releases, d)
		}
	}
	for _, m := range r.rt.mirrorMetrics.all() {
		k := releaseKey{m.app, m.release}
		cur := mirrorCounters{
			mirrored: m.mirrored.Load(), status5xx: m.status5xx.Load(), errors: m.errors.Load(),
			dropped: m.dropped.Load(), skipped: m.skipped.Load(),
		}
		p := r.prevMirror[k]
		r.prevMirror[k] = cur
		d := MirrorDelta{
			App: m.app, Release: m.release,
			Mirrored: cur.mirrored - p.mirrored, Status5xx: cur.status5xx - p.status5xx, Errors: cur.errors - p.errors,
			Dropped: cur.dropped - p.dropped, Skipped: cur.skipped - p.skipped,
		}
		d.Latency, d.LatencySum = m.interval.takeEncoded()
		if d.Mirrored != 0 || d.Errors != 0 || d.Dropped != 0 || d.Skipped != 0 || d.Latency != nil {
			rep.Mirrors = append(rep.Mirrors, d)
		}
	}
	if len(r.lost) > 0 {
		rep.ExchangesLost = r.lost
		r.lost = map[string]int64{}
	}
	return rep
}

// Exchange wraps a mirrored exchange for sending, with its app's next
// sequence number. Call it only for an exchange that is sent now: one given
// up before sending is counted with Lost instead.
func (r *Reporter) Exchange(ex Exchange) ReplicaExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exSeq[ex.App]++
	return ReplicaExchange{Replica: r.replica, Boot: r.boot, Seq: r.exSeq[ex.App], Exchange: ex}
}

// Lost counts an exchange of app the replica could not send; the next report
// carries the count.
func (r *Reporter) Lost(app string) {
	r.mu.Lock()
	r.lost[app]++
	r.mu.Unlock()
}
