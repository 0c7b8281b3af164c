package dora

import (
	"sort"
	"time"
)

// DefaultWindow is the window of a Query without From.
const DefaultWindow = 90 * 24 * time.Hour

// Query selects what Metrics reads. App and Team narrow the scope (both: the app
// if it is in the team); none is everything. A zero To is now; a zero From is
// DefaultWindow before To.
type Query struct {
	App, Team string
	From, To  time.Time
}

// Metrics are the five DORA metrics of a scope over a window, with their buckets
// and their trend. The JSON keys are those of `prosper dora -o json`.
type Metrics struct {
	DeploymentFrequency DeploymentFrequency `json:"deployment_frequency"`
	LeadTime            LeadTime            `json:"lead_time"`
	ChangeFailureRate   ChangeFailureRate   `json:"change_failure_rate"`
	RecoveryTime        RecoveryTime        `json:"recovery_time"`
	ReworkRate          ReworkRate          `json:"rework_rate"`
	// CaughtBeforeProduction counts releases rejected in mirror production.
	CaughtBeforeProduction int      `json:"caught_before_production"`
	Deployments            int      `json:"deployments"`
	Window                 Window   `json:"window"`
	Scope                  Scope    `json:"scope"`
	Trend                  []Period `json:"trend"`
}

// DeploymentFrequency is promotions per day.
type DeploymentFrequency struct {
	PerDay float64 `json:"per_day"`
	Bucket string  `json:"bucket"`
}

// LeadTime is the time from a commit's author time to its promotion.
type LeadTime struct {
	MedianSeconds float64 `json:"median_seconds"`
	P90Seconds    float64 `json:"p90_seconds"`
	Samples       int     `json:"samples"`
	Bucket        string  `json:"bucket"`
}

// ChangeFailureRate is the share of promotions that failed.
type ChangeFailureRate struct {
	Value  float64 `json:"value"`
	Failed int     `json:"failed"`
	Bucket string  `json:"bucket"`
}

// RecoveryTime is the time from a failed deployment to service restored.
type RecoveryTime struct {
	MedianSeconds float64 `json:"median_seconds"`
	Recoveries    int     `json:"recoveries"`
	Bucket        string  `json:"bucket"`
}

// ReworkRate is the share of promotions made to fix an incident.
type ReworkRate struct {
	Value  float64 `json:"value"`
	Rework int     `json:"rework"`
}

// Window is the [From, To) the metrics cover.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Scope echoes the query's app and team.
type Scope struct {
	App  string `json:"app,omitempty"`
	Team string `json:"team,omitempty"`
}

// Period is one step of the trend.
type Period struct {
	From                   time.Time `json:"from"`
	To                     time.Time `json:"to"`
	Deployments            int       `json:"deployments"`
	LeadTimeMedianSeconds  float64   `json:"lead_time_median_seconds"`
	ChangeFailureRate      float64   `json:"change_failure_rate"`
	RecoveryMedianSeconds  float64   `json:"recovery_median_seconds"`
	CaughtBeforeProduction int       `json:"caught_before_production"`
}

// Metrics computes the metrics for q.
func (l *Ledger) Metrics(q Query) Metrics {
	to := q.To
	if to.IsZero() {
		to = time.Now().UTC()
	}
	from := q.From
	if from.IsZero() {
		from = to.Add(-DefaultWindow)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var apps []*app
	for _, a := range l.apps {
		if (q.App == "" || a.name == q.App) && (q.Team == "" || a.team == q.Team) {
			a.refresh(l)
			apps = append(apps, a)
		}
	}

	var m Metrics
	m.Window = Window{From: from, To: to}
	m.Scope = Scope{App: q.App, Team: q.Team}
	a, b := from.UnixNano(), to.UnixNano()
	s := l.sum(apps, a, b, true)
	m.Deployments = s.deployments
	m.CaughtBeforeProduction = s.caught
	days := to.Sub(from).Hours() / 24
	m.DeploymentFrequency.Bucket = "none"
	if days > 0 {
		m.DeploymentFrequency.PerDay = float64(s.deployments) / days
		m.DeploymentFrequency.Bucket = frequencyBucket(m.DeploymentFrequency.PerDay)
	}
	m.LeadTime = LeadTime{MedianSeconds: s.leadMedian, P90Seconds: s.leadP90, Samples: s.leadSamples, Bucket: leadTimeBucket(s.leadSamples, s.leadMedian)}
	m.ChangeFailureRate = ChangeFailureRate{Value: ratio(s.failed, s.deployments), Failed: s.failed, Bucket: failureBucket(s.deployments, ratio(s.failed, s.deployments))}
	m.RecoveryTime = RecoveryTime{MedianSeconds: s.recMedian, Recoveries: s.recoveries, Bucket: recoveryBucket(s.recoveries, s.recMedian)}
	m.ReworkRate = ReworkRate{Value: ratio(s.rework, s.deployments), Rework: s.rework}

	m.Trend = []Period{}
	for _, p := range periods(from, to) {
		s := l.sum(apps, p.From.UnixNano(), p.To.UnixNano(), false)
		p.Deployments = s.deployments
		p.LeadTimeMedianSeconds = s.leadMedian
		p.ChangeFailureRate = ratio(s.failed, s.deployments)
		p.RecoveryMedianSeconds = s.recMedian
		p.CaughtBeforeProduction = s.caught
		m.Trend = append(m.Trend, p)
	}
	return m
}

// totals are the figures of a set of apps over [a, b).
type totals struct {
	deployments, failed, rework, caught int
	leadSamples, recoveries             int
	leadMedian, leadP90, recMedian      float64
}

func (l *Ledger) sum(apps []*app, a, b int64, p90 bool) totals {
	var s totals
	lead := l.buf[:0]
	for _, ap := range apps {
		o := &ap.out
		i, j := span(o.promoT, a, b)
		s.deployments += j - i
		s.failed += int(o.failedCum[j] - o.failedCum[i])
		s.rework += int(o.reworkCum[j] - o.reworkCum[i])
		i, j = span(ap.rejects, a, b)
		s.caught += j - i
		i, j = span(ap.sampleT, a, b)
		lead = append(lead, ap.sampleSec[i:j]...)
	}
	s.leadSamples = len(lead)
	s.leadMedian, s.leadP90 = medianP90(lead, p90)
	rec := lead[len(lead):]
	for _, ap := range apps {
		o := &ap.out
		i, j := span(o.recEnd, a, b)
		rec = append(rec, o.recSec[i:j]...)
	}
	s.recoveries = len(rec)
	s.recMedian, _ = medianP90(rec, false)
	if cap(rec) > cap(lead) {
		l.buf = rec[:0]
	} else {
		l.buf = lead[:0]
	}
	return s
}

// span returns the indexes of the sorted times in [a, b).
func span(ts []int64, a, b int64) (int, int) {
	i := sort.Search(len(ts), func(k int) bool { return ts[k] >= a })
	j := i + sort.Search(len(ts)-i, func(k int) bool { return ts[i+k] >= b })
	return i, j
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// periods splits [from, to) into the trend's steps.
func periods(from, to time.Time) []Period {
	if !to.After(from) {
		return nil
	}
	span := to.Sub(from)
	next := func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	switch {
	case span <= 14*24*time.Hour:
		next = func(t time.Time) time.Time { return t.Add(24 * time.Hour) }
	case span <= 26*7*24*time.Hour:
		next = func(t time.Time) time.Time { return t.Add(7 * 24 * time.Hour) }
	}
	var ps []Period
	for t := from; t.Before(to); {
		n := next(t)
		if n.After(to) {
			n = to
		}
		ps = append(ps, Period{From: t, To: n})
		t = n
	}
	return ps
}
