package dora

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"frequency 1/day", frequencyBucket(1), "elite"},
		{"frequency just under 1/day", frequencyBucket(0.99), "high"},
		{"frequency 1/week", frequencyBucket(1.0 / 7), "high"},
		{"frequency under 1/week", frequencyBucket(0.14), "medium"},
		{"frequency 1/month", frequencyBucket(1.0 / 30), "medium"},
		{"frequency under 1/month", frequencyBucket(0.03), "low"},
		{"frequency none", frequencyBucket(0), "low"},
		{"lead time no sample", leadTimeBucket(0, 0), "none"},
		{"lead time under a day", leadTimeBucket(1, day-1), "elite"},
		{"lead time a day", leadTimeBucket(1, day), "high"},
		{"lead time a week", leadTimeBucket(1, week), "medium"},
		{"lead time 30 days", leadTimeBucket(1, month), "low"},
		{"failure rate no deployment", failureBucket(0, 0), "none"},
		{"failure rate 0", failureBucket(3, 0), "elite"},
		{"failure rate 5%", failureBucket(20, 0.05), "elite"},
		{"failure rate 10%", failureBucket(20, 0.10), "high"},
		{"failure rate 15%", failureBucket(20, 0.15), "medium"},
		{"failure rate 16%", failureBucket(20, 0.16), "low"},
		{"recovery none", recoveryBucket(0, 0), "none"},
		{"recovery under an hour", recoveryBucket(1, 3599), "elite"},
		{"recovery an hour", recoveryBucket(1, 3600), "high"},
		{"recovery a day", recoveryBucket(1, day), "medium"},
		{"recovery a week", recoveryBucket(1, week), "low"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestMetricsBuckets(t *testing.T) {
	h := newHistory()
	for d := range 30 {
		sha := string(rune('a'+d%26)) + time.Duration(d).String()
		h.commit("a", sha, time.Duration(d)*days)
		h.promote("a", time.Duration(d)*days+2*hour, d+1, sha)
	}
	h.rollback("a", 29*days+2*hour+30*minute, 30, 29)
	m := h.l.Metrics(monthOf("a"))
	if m.DeploymentFrequency.Bucket != "elite" || m.LeadTime.Bucket != "elite" ||
		m.ChangeFailureRate.Bucket != "elite" || m.RecoveryTime.Bucket != "elite" {
		t.Errorf("buckets %q %q %q %q, want elite everywhere", m.DeploymentFrequency.Bucket,
			m.LeadTime.Bucket, m.ChangeFailureRate.Bucket, m.RecoveryTime.Bucket)
	}
	empty := NewLedger().Metrics(monthOf("nothing"))
	if empty.DeploymentFrequency.Bucket != "low" || empty.LeadTime.Bucket != "none" ||
		empty.ChangeFailureRate.Bucket != "none" || empty.RecoveryTime.Bucket != "none" {
		t.Errorf("empty buckets %+v", empty)
	}
}

func TestScopes(t *testing.T) {
	h := newHistory()
	h.l.SetApp("web", "shop")
	h.l.SetApp("api", "shop")
	h.l.SetApp("batch", "data")
	h.promote("web", 1*hour, 1, "")
	h.promote("api", 2*hour, 1, "")
	h.promote("api", 3*hour, 2, "")
	h.promote("batch", 4*hour, 1, "")
	h.promote("old", 5*hour, 1, "") // a deleted app: no team, events stay
	q := monthOf("")
	cases := []struct {
		app, team string
		want      int
	}{
		{"", "", 5},
		{"web", "", 1},
		{"api", "", 2},
		{"", "shop", 3},
		{"", "data", 1},
		{"api", "shop", 2},
		{"api", "data", 0},
		{"old", "", 1},
		{"missing", "", 0},
	}
	for _, c := range cases {
		q.App, q.Team = c.app, c.team
		m := h.l.Metrics(q)
		if m.Deployments != c.want {
			t.Errorf("app %q team %q: %d deployments, want %d", c.app, c.team, m.Deployments, c.want)
		}
		if m.Scope != (Scope{App: c.app, Team: c.team}) {
			t.Errorf("scope %+v", m.Scope)
		}
	}
	// Moving an app to another team moves its history; clearing the team of a
	// deleted app takes it out of the team but not out of the overall figures.
	h.l.SetApp("web", "data")
	h.l.SetApp("batch", "")
	for team, want := range map[string]int{"shop": 2, "data": 1, "": 5} {
		if got := h.l.Metrics(Query{Team: team, From: q.From, To: q.To}).Deployments; got != want {
			t.Errorf("team %q after moves: %d deployments, want %d", team, got, want)
		}
	}
}

func TestTrend(t *testing.T) {
	cases := []struct {
		name   string
		window time.Duration
		n      int
		step   time.Duration // 0: calendar months
	}{
		{"a week is daily", 7 * days, 7, days},
		{"14 days are daily", 14 * days, 14, days},
		{"90 days are weekly", 90 * days, 13, 7 * days},
		{"26 weeks are weekly", 26 * 7 * days, 26, 7 * days},
		{"a year is monthly", 365 * days, 12, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := periods(t0, t0.Add(c.window))
			if len(ps) != c.n {
				t.Fatalf("%d periods, want %d", len(ps), c.n)
			}
			for i, p := range ps {
				if i > 0 && !p.From.Equal(ps[i-1].To) {
					t.Errorf("period %d starts at %v, the previous ends at %v", i, p.From, ps[i-1].To)
				}
				if c.step != 0 && i < len(ps)-1 && p.To.Sub(p.From) != c.step {
					t.Errorf("period %d lasts %v", i, p.To.Sub(p.From))
				}
			}
			if !ps[0].From.Equal(t0) || !ps[len(ps)-1].To.Equal(t0.Add(c.window)) {
				t.Errorf("periods cover %v – %v", ps[0].From, ps[len(ps)-1].To)
			}
		})
	}

	h := newHistory()
	h.commit("a", "c1", 0)
	h.promote("a", 1*hour, 1, "c1")
	h.promote("a", 2*days+1*hour, 2, "")
	h.promote("a", 2*days+2*hour, 3, "")
	h.rollback("a", 2*days+3*hour, 3, 2)
	h.reject("a", 3*days, 4)
	m := h.l.Metrics(Query{App: "a", From: t0, To: at(4 * days)})
	want := []Period{
		{From: t0, To: at(1 * days), Deployments: 1, LeadTimeMedianSeconds: 3600},
		{From: at(1 * days), To: at(2 * days)},
		{From: at(2 * days), To: at(3 * days), Deployments: 2, ChangeFailureRate: 0.5, RecoveryMedianSeconds: 3600},
		{From: at(3 * days), To: at(4 * days), CaughtBeforeProduction: 1},
	}
	if !slices.Equal(m.Trend, want) {
		t.Errorf("trend\n got %+v\nwant %+v", m.Trend, want)
	}
}

// TestJSON pins the keys of `prosper dora -o json` (../shared/DESIGN.md).
func TestJSON(t *testing.T) {
	h := newHistory()
	h.promote("a", hour, 1, "")
	raw, err := json.Marshal(h.l.Metrics(Query{App: "a", From: t0, To: at(2 * days)}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"deployment_frequency":     {"per_day", "bucket"},
		"lead_time":                {"median_seconds", "p90_seconds", "samples", "bucket"},
		"change_failure_rate":      {"value", "failed", "bucket"},
		"recovery_time":            {"median_seconds", "recoveries", "bucket"},
		"rework_rate":              {"value", "rework"},
		"caught_before_production": nil,
		"deployments":              nil,
		"window":                   {"from", "to"},
		"scope":                    {"app"},
		"trend":                    nil,
	}
	for key, fields := range want {
		v, ok := got[key]
		if !ok {
			t.Errorf("no key %q in %s", key, raw)
			continue
		}
		for _, f := range fields {
			if _, ok := v.(map[string]any)[f]; !ok {
				t.Errorf("no key %s.%s in %s", key, f, raw)
			}
		}
	}
	period := got["trend"].([]any)[0].(map[string]any)
	for _, f := range []string{"from", "to", "deployments", "lead_time_median_seconds", "change_failure_rate",
		"recovery_median_seconds", "caught_before_production"} {
		if _, ok := period[f]; !ok {
			t.Errorf("no key trend[0].%s in %s", f, raw)
		}
	}
}

func TestDefaultWindowAndEventIDs(t *testing.T) {
	l := NewLedger()
	now := time.Now()
	e := Event{ID: 3, Time: now.Add(-time.Hour), Type: TypePromoted, App: "a", Release: 1}
	l.AddEvent(e)
	l.AddEvent(e)                                                                                 // fed twice: once
	l.AddEvent(Event{ID: 2, Time: now.Add(-time.Hour), Type: TypePromoted, App: "a", Release: 2}) // behind: ignored
	l.AddEvent(Event{ID: 4, Time: now.Add(-100 * 24 * time.Hour), Type: TypePromoted, App: "a", Release: 0})
	l.AddEvent(Event{ID: 7, Time: now, Type: "deploy.started", App: "a"})
	if got := l.LastEventID(); got != 7 {
		t.Errorf("LastEventID %d, want 7", got)
	}
	m := l.Metrics(Query{App: "a"})
	if m.Deployments != 1 {
		t.Errorf("%d deployments in the last 90 days, want 1", m.Deployments)
	}
	if d := m.Window.To.Sub(m.Window.From); d != DefaultWindow {
		t.Errorf("default window %v", d)
	}
	if time.Since(m.Window.To) > time.Minute || m.Window.To.Before(now) {
		t.Errorf("default window ends %v, not now", m.Window.To)
	}
}

func TestMedianP90(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r.IntN(20)) // many duplicates
			if n > 100 {
				xs[i] = r.Float64()
			}
		}
		sorted := slices.Sorted(slices.Values(xs))
		med, p90 := medianP90(xs, true)
		var wantMed, wantP90 float64
		if n > 0 {
			wantMed = sorted[n/2]
			if n%2 == 0 {
				wantMed = (sorted[n/2-1] + sorted[n/2]) / 2
			}
			rank := 0
			for rank*10 < 9*n { // smallest rank with rank ≥ 0.9n
				rank++
			}
			wantP90 = sorted[rank-1]
		}
		if med != wantMed || p90 != wantP90 {
			t.Fatalf("n=%d: median %v p90 %v, want %v %v", n, med, p90, wantMed, wantP90)
		}
	}
}
