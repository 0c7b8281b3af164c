package dora

import (
	"testing"
	"time"
)

const (
	minute = time.Minute
	hour   = time.Hour
	days   = 24 * time.Hour
)

// TestDefinitions pins each metric's definition, and the known pitfalls of
// computing them from other tools' data, on hand-made histories of one app.
func TestDefinitions(t *testing.T) {
	cases := []struct {
		name    string
		history func(h *history)
		want    figures
	}{
		{
			name: "several commits per deploy: one sample each, from its author time",
			history: func(h *history) {
				h.commit("a", "c1", 1*days-3*hour)
				h.commit("a", "c2", 1*days-2*hour, "c1")
				h.commit("a", "c3", 1*days-1*hour, "c2")
				h.promote("a", 1*days, 1, "c3")
			},
			want: figures{Deployments: 1, LeadSamples: 3, LeadMedian: 2 * hour, LeadP90: 3 * hour},
		},
		{
			name: "a promotion brings live only the commits not live before",
			history: func(h *history) {
				h.commit("a", "c1", 0)
				h.promote("a", 1*hour, 1, "c1")
				h.commit("a", "c2", 2*hour, "c1")
				h.commit("a", "c3", 3*hour, "c2")
				h.promote("a", 7*hour, 2, "c3")
			},
			want: figures{Deployments: 2, LeadSamples: 3, LeadMedian: 4 * hour, LeadP90: 5 * hour},
		},
		{
			name: "squash merge: the squash commit alone, the branch's commits are not its ancestors",
			history: func(h *history) {
				h.commit("a", "main1", 0)
				h.promote("a", 1*hour, 1, "main1")
				h.commit("a", "feat1", 2*hour, "main1")
				h.commit("a", "feat2", 3*hour, "feat1")
				h.commit("a", "squash", 10*hour, "main1")
				h.promote("a", 12*hour, 2, "squash")
			},
			want: figures{Deployments: 2, LeadSamples: 2, LeadMedian: (1*hour + 2*hour) / 2, LeadP90: 2 * hour},
		},
		{
			name: "merge commit: the branch's commits come live with it",
			history: func(h *history) {
				h.commit("a", "main1", 0)
				h.promote("a", 1*hour, 1, "main1")
				h.commit("a", "feat1", 2*hour, "main1")
				h.commit("a", "feat2", 3*hour, "feat1")
				h.commit("a", "main2", 4*hour, "main1")
				h.commit("a", "merge", 5*hour, "main2", "feat2")
				h.promote("a", 6*hour, 2, "merge")
			},
			// 1h (main1), then 4h, 3h, 2h, 1h for feat1, feat2, main2, merge.
			want: figures{Deployments: 2, LeadSamples: 5, LeadMedian: 2 * hour, LeadP90: 4 * hour},
		},
		{
			name: "a deploy with no new commit: a deployment, no sample",
			history: func(h *history) {
				h.commit("a", "c1", 0)
				h.promote("a", 2*hour, 1, "c1")
				h.promote("a", 3*hour, 2, "c1") // redeploy of the same commit
				h.promote("a", 4*hour, 3, "")   // config change / working tree
			},
			want: figures{Deployments: 3, LeadSamples: 1, LeadMedian: 2 * hour, LeadP90: 2 * hour},
		},
		{
			name: "commits the ledger never saw are skipped",
			history: func(h *history) {
				h.commit("a", "c2", 1*hour, "never-seen")
				h.promote("a", 3*hour, 1, "c2")
				h.promote("a", 4*hour, 2, "unknown-commit")
			},
			want: figures{Deployments: 2, LeadSamples: 1, LeadMedian: 2 * hour, LeadP90: 2 * hour},
		},
		{
			name: "a rollback fails the promotion rolled back from; recovery is promotion → rollback",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.promote("a", 2*hour, 2, "")
				h.rollback("a", 2*hour+20*minute, 2, 1)
			},
			want: figures{Deployments: 2, Failed: 1, Recoveries: 1, RecoveryMedian: 20 * minute},
		},
		{
			name: "a rollback of a rollback fails nothing more",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.promote("a", 2*hour, 2, "")
				h.rollback("a", 2*hour+20*minute, 2, 1)
				h.rollback("a", 3*hour, 1, 2) // v2 was fine after all: put back
			},
			want: figures{Deployments: 2, Failed: 1, Recoveries: 1, RecoveryMedian: 20 * minute},
		},
		{
			name: "an incident naming the release fails it; recovery is opened → resolved",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.promote("a", 2*hour, 2, "")
				h.open("a", 3*hour, 7, 2)
				h.resolve("a", 5*hour, 7, 0) // resolved by hand
			},
			want: figures{Deployments: 2, Failed: 1, Recoveries: 1, RecoveryMedian: 2 * hour},
		},
		{
			name: "a rollback with its incident: one failure, the incident's recovery",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.promote("a", 2*hour, 2, "")
				h.rollback("a", 2*hour+10*minute, 2, 1)
				h.open("a", 2*hour+10*minute, 1, 2) // prosper opens it on rollback
				h.resolve("a", 4*hour+10*minute, 1, 0)
			},
			want: figures{Deployments: 2, Failed: 1, Recoveries: 1, RecoveryMedian: 2 * hour},
		},
		{
			name: "an incident opened while v was live and resolved by a fix deployment fails v; the fix is rework",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.open("a", 2*hour, 3, 0) // cause unknown
				h.promote("a", 4*hour, 2, "")
				h.resolve("a", 4*hour, 3, 2)
			},
			want: figures{Deployments: 2, Failed: 1, Rework: 1, Recoveries: 1, RecoveryMedian: 2 * hour},
		},
		{
			name: "an incident with no deploy: no failure, no recovery; a promotion while it is open is rework",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.open("a", 2*hour, 3, 0)
				h.promote("a", 3*hour, 2, "") // unrelated change, made during the incident
				h.resolve("a", 5*hour, 3, 0)  // the dependency came back
				h.open("a", 6*hour, 4, 99)    // names a release that never went live
				h.resolve("a", 7*hour, 4, 0)
			},
			want: figures{Deployments: 2, Rework: 1},
		},
		{
			name: "an incident never resolved: a failure without recovery",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.open("a", 2*hour, 3, 1)
			},
			want: figures{Deployments: 1, Failed: 1},
		},
		{
			name: "a release rejected in mirror then fixed: caught, not deployed, its commits go live with the fix",
			history: func(h *history) {
				h.commit("a", "c1", 0)
				h.promote("a", 1*hour, 1, "c1")
				h.commit("a", "c2", 2*hour, "c1")
				h.reject("a", 3*hour, 2)
				h.commit("a", "c3", 4*hour, "c2")
				h.promote("a", 5*hour, 3, "c3")
			},
			want: figures{Deployments: 2, Caught: 1, LeadSamples: 3, LeadMedian: 1 * hour, LeadP90: 3 * hour},
		},
		{
			name: "imported deployments (release 0) count, with their commits and incidents",
			history: func(h *history) {
				h.commit("a", "c1", 0)
				h.commit("a", "c2", 1*hour, "c1")
				h.event("a", TypePromoted, 2*hour, 0, map[string]any{"commit": "c2", "source": "import", "tag": "v1.0"})
				h.event("a", TypeIncidentOpened, 3*hour, 0, map[string]any{"incident": "ext-1", "cause": "import"})
				h.commit("a", "c3", 4*hour, "c2")
				h.event("a", TypePromoted, 5*hour, 0, map[string]any{"commit": "c3", "source": "import", "tag": "v1.1"})
				h.event("a", TypeIncidentResolve, 5*hour, 0, map[string]any{"incident": "ext-1"})
			},
			// Release 0 is unknown: neither the cause (b) nor the fix (c) is known.
			// The second import was made while the incident was open: rework.
			want: figures{Deployments: 2, LeadSamples: 3, LeadMedian: 1 * hour, LeadP90: 2 * hour, Rework: 1},
		},
		{
			name: "events out of order within the same timestamp: promotion, rollback, incident, resolution",
			history: func(h *history) {
				h.promote("a", 1*hour, 1, "")
				h.resolve("a", 3*hour, 5, 3)  // written before the promotion it names
				h.rollback("a", 2*hour, 2, 1) // written before the promotion it undoes
				h.open("a", 2*hour, 5, 0)     // while v2 is live
				h.promote("a", 2*hour, 2, "") // same timestamp as the rollback
				h.promote("a", 3*hour, 3, "") // the fix
			},
			// v2 failed (rolled back; and the incident opened while it was live was
			// fixed by v3); recovery: the incident's, 1h; v3 is rework.
			want: figures{Deployments: 3, Failed: 1, Rework: 1, Recoveries: 1, RecoveryMedian: 1 * hour},
		},
		{
			name: "commits recorded after the promotion that deployed them",
			history: func(h *history) {
				h.promote("a", 3*hour, 1, "c2")
				h.commit("a", "c2", 1*hour, "c1")
				h.commit("a", "c1", 0)
			},
			want: figures{Deployments: 1, LeadSamples: 2, LeadMedian: (2*hour + 3*hour) / 2, LeadP90: 3 * hour},
		},
		{
			name: "an imported past deployment fed after later ones brings the old commits live",
			history: func(h *history) {
				h.commit("a", "c1", 0)
				h.commit("a", "c2", 1*hour, "c1")
				h.commit("a", "c3", 5*hour, "c2")
				h.promote("a", 6*hour, 1, "c3")
				h.event("a", TypePromoted, 2*hour, 0, map[string]any{"commit": "c2", "source": "import"})
			},
			// c1, c2 went live at 2h (2h, 1h), c3 at 6h (1h).
			want: figures{Deployments: 2, LeadSamples: 3, LeadMedian: 1 * hour, LeadP90: 2 * hour},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory()
			c.history(h)
			check(t, h.l.Metrics(monthOf("a")), c.want)
		})
	}
}

// TestWindow pins what belongs to a window: promotions and rejections by their
// time, lead-time samples by their promotion's, recoveries by their end.
func TestWindow(t *testing.T) {
	h := newHistory()
	h.commit("a", "c1", 0)
	h.promote("a", 10*hour, 1, "c1") // before the window
	h.open("a", 11*hour, 1, 1)
	h.resolve("a", 13*hour, 1, 0)  // recovery ends in the window
	h.reject("a", 11*hour, 2)      // before
	h.reject("a", 12*hour, 3)      // at From: in
	h.promote("a", 12*hour, 4, "") // at From: in; made during the incident: rework
	h.promote("a", 20*hour, 5, "") // at To: out
	m := h.l.Metrics(Query{App: "a", From: at(12 * hour), To: at(20 * hour)})
	check(t, m, figures{Deployments: 1, Caught: 1, Rework: 1, Recoveries: 1, RecoveryMedian: 2 * hour})
	if m.ChangeFailureRate.Value != 0 {
		t.Errorf("change failure rate %v: the failed promotion is before the window", m.ChangeFailureRate.Value)
	}
	if want := 1.0 / (8.0 / 24); m.DeploymentFrequency.PerDay != want {
		t.Errorf("per day %v, want %v", m.DeploymentFrequency.PerDay, want)
	}
}
