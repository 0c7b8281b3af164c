package rollout

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/store"
)

// A release that changes nothing users see but noise is promoted: the time
// and the uuid look volatile, and the random "jitter" is only forgiven because
// the control instance of the live release answers it differently too.
func TestVerifyPromotesHarmlessRefactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("calm")
	const verify = "verify: {window: 1s, min_requests: 20}"
	h.mustDeploy("calm", verifyApp(t, variant{Total: 10}, verify, nil))
	v2 := verifyApp(t, variant{Total: 10}, verify, nil)
	v2["app.py"] += "# refactored: same answers, other code\n"

	r := h.trafficUntil("calm", h.deployAsync(h.ctx, "calm", v2), "/")
	if r.err != nil {
		t.Fatalf("deploy v2: %v\n%s", r.err, r.out)
	}
	if r.rel.Status != store.StatusLive || h.live("calm") != 2 || !strings.Contains(r.out, "PROMOTED v2") {
		t.Fatalf("v2 status %s, live v%d; want v2 promoted\n%s", r.rel.Status, h.live("calm"), r.out)
	}
	if a, err := h.get("calm", "/"); err != nil || a.Release != "v2" {
		t.Fatalf("GET / after the promotion: %+v, %v; want an answer of v2", a, err)
	}
	rep := h.report(h.release("calm", 2))
	if !rep.Verdict.Passed || rep.DecidedBy != "gates" || rep.State != "promoted" {
		t.Errorf("report: passed %v, decided by %q, state %q; want passed by the gates", rep.Verdict.Passed, rep.DecidedBy, rep.State)
	}
	if rep.Differences.Total < 20 || rep.Differences.Differing != 0 {
		t.Errorf("differences: %d of %d answers differ; want none of at least 20\n%+v",
			rep.Differences.Differing, rep.Differences.Total, rep.Differences.Endpoints)
	}
	if !rep.Control || !slices.Contains(rep.Noise["GET /"], "$.jitter") {
		t.Errorf("control %v, noise learned %v; want $.jitter of GET / learned from the control instance", rep.Control, rep.Noise)
	}
	smoke := false
	for _, b := range rep.Figures.Bots {
		smoke = smoke || (b.Scenario == "smoke" && b.CandidateRuns > 0 && b.CandidateFails == 0)
	}
	if !smoke {
		t.Errorf("bots %+v; want the smoke journey passed on the candidate", rep.Figures.Bots)
	}
}

// A release whose answers change (a value, a type, a status) is rejected with
// the place named, and the live release is untouched.
func TestVerifyRejectsChangedAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		v2    variant
		paths []string
		// want are the words every rejection must say, in the release's
		// reasons and in its report.
		want []string
		// place is the differing path the comparison must report.
		place string
	}{
		{"value", variant{Total: 11}, []string{"/"},
			[]string{"diff_rate", "GET /: $.total changed value, e.g. 10 → 11"}, "$.total"},
		{"type", variant{Total: "10"}, []string{"/"},
			[]string{"diff_rate", "GET /: $.total changed type number → string"}, "$.total"},
		{"500 on one endpoint", variant{Total: 10, Boom: true}, []string{"/", "/boom"},
			[]string{"error_rate", "GET /boom answered 500 where live answered 200"}, "status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			h.createApp("shop")
			const verify = "verify: {window: 500ms, min_requests: 10}"
			h.mustDeploy("shop", verifyApp(t, variant{Total: 10}, verify, nil))

			r := h.trafficUntil("shop", h.deployAsync(h.ctx, "shop", verifyApp(t, c.v2, verify, nil)), c.paths...)
			var e *Error
			if !errors.As(r.err, &e) || e.Release.Status != store.StatusRejected || r.rel.Status != store.StatusRejected {
				t.Fatalf("deploy v2: %v (status %s); want a rejected release\n%s", r.err, r.rel.Status, r.out)
			}
			if !strings.Contains(r.out, "REJECTED v2") {
				t.Errorf("output does not say REJECTED v2:\n%s", r.out)
			}
			stored := h.release("shop", 2)
			rep := h.report(stored)
			if stored.Status != store.StatusRejected || rep.State != "rejected" || rep.Verdict.Passed {
				t.Errorf("stored status %s, report state %s passed %v; want rejected", stored.Status, rep.State, rep.Verdict.Passed)
			}
			for _, w := range c.want {
				if !containsText(stored.Reasons, w) {
					t.Errorf("reasons %q do not say %q", stored.Reasons, w)
				}
				if !containsText(rep.Verdict.Reasons, w) {
					t.Errorf("report reasons %q do not say %q", rep.Verdict.Reasons, w)
				}
			}
			found := false
			for _, ep := range rep.Differences.Endpoints {
				for _, p := range ep.Paths {
					found = found || p.Path == c.place
				}
			}
			if !found {
				t.Errorf("the report's differences %+v do not name %s", rep.Differences.Endpoints, c.place)
			}

			// Live is untouched and everything the verification started is gone.
			if h.live("shop") != 1 {
				t.Errorf("live v%d; want v1", h.live("shop"))
			}
			status, body, err := h.request("shop", http.MethodGet, "/", "")
			if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"total": 10`) {
				t.Errorf("GET / after the rejection: %d %s %v; want v1's total 10", status, body, err)
			}
			if got := h.verificationWorkloads("shop"); len(got) > 0 {
				t.Errorf("verification workloads still run: %v", got)
			}
			if got := h.running("shop"); !slices.Equal(got, []int{1}) {
				t.Errorf("running releases %v; want [1]", got)
			}
			if h.mirrored("shop") {
				t.Error("the router still mirrors shop's traffic")
			}
			h.verifyDirGone("shop", 2)
			if evs := h.events("shop", 2); !slices.Contains(evs, "verify.verdict") || !slices.Contains(evs, "release.rejected") {
				t.Errorf("events of v2 %v; want verify.verdict and release.rejected", evs)
			}
		})
	}
}

// A release that breaks only a bot journey is rejected with the failed step
// named, while mirroring no live request at all; the same journey passes on a
// release that does not break it, so the rejection is the candidate's fault.
func TestVerifyRejectsBrokenJourney(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("items")
	const verify = "verify: {mirror: 0%, window: 1s, min_requests: 4}"
	bots := map[string]string{"bots/journey.yaml": journeyBot}
	h.mustDeploy("items", verifyApp(t, variant{Total: 10}, verify, bots))

	good := h.deployAsync(h.ctx, "items", verifyApp(t, variant{Total: 10}, verify, bots))
	r := waitDeploy(t, good)
	if r.err != nil || r.rel.Status != store.StatusLive {
		t.Fatalf("deploy of a release that keeps the journey: %v (status %s)\n%s", r.err, r.rel.Status, r.out)
	}
	rep := h.report(h.release("items", 2))
	if len(rep.Figures.Bots) != 1 || rep.Figures.Bots[0].CandidateRuns == 0 || rep.Figures.Bots[0].CandidateFails != 0 {
		t.Fatalf("bots of v2 %+v; want the journey passed on the candidate", rep.Figures.Bots)
	}

	bad := h.deployAsync(h.ctx, "items", verifyApp(t, variant{Total: 10, Item404: true}, verify, bots))
	r = waitDeploy(t, bad)
	if r.err == nil || r.rel.Status != store.StatusRejected {
		t.Fatalf("deploy of a release that breaks the journey: %v (status %s); want rejected\n%s", r.err, r.rel.Status, r.out)
	}
	stored := h.release("items", 3)
	for _, w := range []string{`bots: journey "journey" failed`, `step 2 "GET /items/{{id}}"`, "404", "40 EUR"} {
		if !containsText(stored.Reasons, w) {
			t.Errorf("reasons %q do not say %q", stored.Reasons, w)
		}
	}
	rep = h.report(stored)
	if rep.MirrorPercent != 0 {
		t.Errorf("mirror percent %v; want 0", rep.MirrorPercent)
	}
	for _, ep := range rep.Differences.Endpoints {
		if ep.Endpoint == "GET /" {
			t.Errorf("GET / was compared with mirror: 0%%: %+v", ep)
		}
	}
	if h.live("items") != 2 {
		t.Errorf("live v%d; want v2", h.live("items"))
	}
}

// A release that passes verification and then crashes once live is rolled
// back by itself within its grace period, and an incident records it.
func TestVerifyRollsBackCrashAfterPromotion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("fragile")
	const grace = 30 * time.Second
	const verify = "verify: {window: 500ms, min_requests: 10, grace: 30s}"
	h.mustDeploy("fragile", verifyApp(t, variant{Total: 10}, verify, nil))

	r := h.trafficUntil("fragile", h.deployAsync(h.ctx, "fragile", verifyApp(t, variant{Total: 10, ExitAfter: 1.5}, verify, nil)), "/")
	if r.err != nil || r.rel.Status != store.StatusLive {
		t.Fatalf("deploy v2: %v (status %s); want it promoted: it crashes only once live\n%s", r.err, r.rel.Status, r.out)
	}
	promoted := time.Now()
	eventually(t, "the rollback to v1", grace, func() bool { return h.live("fragile") == 1 })
	if d := time.Since(promoted); d > grace {
		t.Errorf("rolled back after %s; want within the grace of %s", d, grace)
	}
	eventually(t, "v1 answering", 10*time.Second, func() bool {
		a, err := h.get("fragile", "/")
		return err == nil && a.Status == http.StatusOK && a.Release == "v1"
	})
	if st := h.release("fragile", 2).Status; st != store.StatusRolledBack {
		t.Errorf("v2 status %s; want %s", st, store.StatusRolledBack)
	}

	var inc store.Incident
	eventually(t, "the incident resolved", 10*time.Second, func() bool {
		all, err := h.store.Incidents(h.ctx, store.IncidentQuery{App: "fragile"})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 {
			return false
		}
		inc = all[0]
		return inc.ResolvedAt != nil
	})
	if inc.Cause != store.CauseCrashLoop || inc.Release != 2 || inc.ResolvedBy != 1 {
		t.Errorf("incident %+v; want cause crash_loop, caused by v2, resolved by v1", inc)
	}
	// The incident's event is recorded just after the incident itself.
	eventually(t, "the events of the promotion, the rollback and the incident", 10*time.Second, func() bool {
		evs := h.events("fragile", 0)
		for _, want := range []string{"release.promoted", "release.rolled_back", "incident.opened", "incident.resolved"} {
			if !slices.Contains(evs, want) {
				return false
			}
		}
		return true
	})
}

// A person can watch a verification, pause it, promote it at once, or abort
// the next one.
func TestVerifyManualControl(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("hands")
	const verify = "verify: {window: 30s, min_requests: 1}"
	h.mustDeploy("hands", verifyApp(t, variant{Total: 10}, verify, nil))
	if err := h.m.VerifyCommand("hands", VerifyPause); !errors.Is(err, ErrNotVerifying) {
		t.Errorf("pause with nothing to verify: %v; want ErrNotVerifying", err)
	}

	done := h.deployAsync(h.ctx, "hands", verifyApp(t, variant{Total: 10}, verify, nil))
	var rep Report
	eventually(t, "v2 verifying with figures", 30*time.Second, func() bool {
		if _, _, err := h.request("hands", http.MethodGet, "/", ""); err != nil {
			t.Fatal(err)
		}
		var err error
		rep, err = h.m.VerifyStatus(h.ctx, "hands")
		return err == nil && rep.State == "verifying" && rep.Figures.Requests > 0 && rep.Differences.Total > 0
	})
	if rep.Candidate != 2 || rep.Live != 1 || rep.WindowSeconds != 30 || rep.MinRequests != 1 || !rep.Control {
		t.Errorf("status %+v; want v2 against v1 over 30s with a control instance", rep)
	}
	if err := h.m.VerifyCommand("hands", "hurry"); err == nil {
		t.Error("an unknown command was taken")
	}

	if err := h.m.VerifyCommand("hands", VerifyPause); err != nil {
		t.Fatal(err)
	}
	paused := waitState(t, h.m, "hands", "paused")
	// The clock stands still while paused: the window does not run out
	// behind a person's back.
	time.Sleep(300 * time.Millisecond)
	if later := waitState(t, h.m, "hands", "paused"); later.ElapsedSeconds-paused.ElapsedSeconds > 0.05 {
		t.Errorf("elapsed went from %.3fs to %.3fs while paused", paused.ElapsedSeconds, later.ElapsedSeconds)
	}
	if err := h.m.VerifyCommand("hands", VerifyResume); err != nil {
		t.Fatal(err)
	}
	waitState(t, h.m, "hands", "verifying")

	asked := time.Now()
	if err := h.m.VerifyCommand("hands", VerifyPromote); err != nil {
		t.Fatal(err)
	}
	r := waitDeploy(t, done)
	if r.err != nil || r.rel.Status != store.StatusLive || !strings.Contains(r.out, "PROMOTED v2") {
		t.Fatalf("deploy v2 promoted by hand: %v (status %s)\n%s", r.err, r.rel.Status, r.out)
	}
	if d := time.Since(asked); d > 10*time.Second {
		t.Errorf("promoted %s after the command; want at once", d)
	}
	rep = h.report(h.release("hands", 2))
	if rep.DecidedBy != "hand" || !containsText(rep.Verdict.Reasons, "promoted by hand") {
		t.Errorf("report decided by %q with reasons %q; want promoted by hand", rep.DecidedBy, rep.Verdict.Reasons)
	}

	done = h.deployAsync(h.ctx, "hands", verifyApp(t, variant{Total: 10}, verify, nil))
	eventually(t, "v3 verifying", 30*time.Second, func() bool {
		rep, err := h.m.VerifyStatus(h.ctx, "hands")
		return err == nil && rep.State == "verifying" && rep.Candidate == 3
	})
	if err := h.m.VerifyCommand("hands", VerifyAbort); err != nil {
		t.Fatal(err)
	}
	r = waitDeploy(t, done)
	if r.err == nil || r.rel.Status != store.StatusRejected || !containsText(h.release("hands", 3).Reasons, "aborted by hand") {
		t.Fatalf("deploy v3 aborted by hand: %v (status %s, reasons %q)\n%s", r.err, r.rel.Status, h.release("hands", 3).Reasons, r.out)
	}
	if h.live("hands") != 2 {
		t.Errorf("live v%d; want v2", h.live("hands"))
	}
	if rep, err := h.m.VerifyStatus(h.ctx, "hands"); err != nil || rep.State != "rejected" || rep.Candidate != 3 {
		t.Errorf("status after the abort: %+v, %v; want v3 rejected", rep, err)
	}
}

// The candidate runs on its own copy of the live data: it starts with what
// live had, and what mirrored writes add never reaches live's data.
func TestVerifyCandidateWritesItsOwnData(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("ledger")
	const verify = "verify: {window: 30s, min_requests: 1, ignore: [$.id]}"
	h.mustDeploy("ledger", verifyApp(t, variant{Total: 10}, verify, nil))
	post := func(name string) {
		t.Helper()
		status, body, err := h.request("ledger", http.MethodPost, "/items", `{"name": "`+name+`"}`)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("POST /items: %d %s %v", status, body, err)
		}
	}
	for range 3 {
		post("before")
	}

	done := h.deployAsync(h.ctx, "ledger", verifyApp(t, variant{Total: 10}, verify, nil))
	// The candidate's copy is taken before verification begins; the writes
	// start after it.
	waitState(t, h.m, "ledger", "verifying")
	candidateDB := filepath.Join(h.m.verifyDir("ledger", 2), "candidate", "app.db")
	posted := 3
	var seen map[string]int
	eventually(t, "a mirrored write in the candidate's data", 30*time.Second, func() bool {
		post("during")
		posted++
		rows, err := rowsByRelease(candidateDB)
		seen = rows
		return err == nil && rows["v2"] > 0
	})
	if seen["v1"] != 3 {
		t.Errorf("the candidate's data holds %d rows of v1; want the 3 live had when verification began", seen["v1"])
	}
	if err := h.m.VerifyCommand("ledger", VerifyAbort); err != nil {
		t.Fatal(err)
	}
	if r := waitDeploy(t, done); r.rel.Status != store.StatusRejected {
		t.Fatalf("deploy v2: %v (status %s); want rejected by hand", r.err, r.rel.Status)
	}

	live, err := rowsByRelease(filepath.Join(h.m.appDataDir("ledger"), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	if live["v2"] != 0 || live["v1"] != posted || len(live) != 1 {
		t.Errorf("live data rows by release %v; want only the %d of v1", live, posted)
	}
	h.verifyDirGone("ledger", 2)
}

// A verification cut short leaves nothing running: neither when its deploy is
// cancelled, nor when its control plane dies and a new one recovers.
func TestVerifyInterrupted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.createApp("cut")
	const verify = "verify: {window: 30s, min_requests: 1}"
	h.mustDeploy("cut", verifyApp(t, variant{Total: 10}, verify, nil))
	newControlPlane := func() *Manager {
		opts := h.opts
		opts.RouterURL = h.srv.URL
		m := New(h.store, h.sup, h.routes, &build.Builder{}, opts, testLogger())
		t.Cleanup(m.Close)
		return m
	}
	verifying := func(m *Manager, version int) {
		t.Helper()
		eventually(t, "verifying", 30*time.Second, func() bool {
			rep, err := m.VerifyStatus(h.ctx, "cut")
			return err == nil && rep.State == "verifying" && rep.Candidate == version
		})
		want := []string{WorkloadID("cut", 1) + controlSuffix, WorkloadID("cut", version) + candidateSuffix}
		if got := h.verificationWorkloads("cut"); !slices.Equal(got, want) {
			t.Fatalf("verification workloads %v; want %v", got, want)
		}
		if !h.mirrored("cut") {
			t.Fatal("the router does not mirror cut's traffic during verification")
		}
		if _, err := os.Stat(h.m.verifyDir("cut", version)); err != nil {
			t.Fatalf("verification data: %v", err)
		}
	}
	nothingLeft := func(version int) {
		t.Helper()
		if got := h.verificationWorkloads("cut"); len(got) > 0 {
			t.Errorf("verification workloads still run: %v", got)
		}
		if h.mirrored("cut") {
			t.Error("the router still mirrors cut's traffic")
		}
		h.verifyDirGone("cut", version)
		if a, err := h.get("cut", "/"); err != nil || a.Status != http.StatusOK || a.Release != "v1" {
			t.Errorf("GET /: %+v, %v; want v1 serving", a, err)
		}
	}

	// The deploy's context ends (the platform stops) mid-verification.
	ctx, cancel := context.WithCancel(h.ctx)
	done := h.deployAsync(ctx, "cut", verifyApp(t, variant{Total: 10}, verify, nil))
	verifying(h.m, 2)
	cancel()
	r := waitDeploy(t, done)
	if r.err == nil || r.rel.Status != store.StatusFailed {
		t.Fatalf("cancelled deploy: %v (status %s); want failed", r.err, r.rel.Status)
	}
	nothingLeft(2)
	h.m = newControlPlane()
	if err := h.m.Recover(h.ctx); err != nil {
		t.Fatal(err)
	}
	nothingLeft(2)

	// The control plane dies mid-verification: what it started on the data
	// plane goes on running, and the release stays verifying in the store,
	// until a new control plane recovers. The dead one's goroutines are only
	// stopped afterwards.
	dead := h.m
	ctx, cancel = context.WithCancel(h.ctx)
	defer cancel()
	done = h.deployAsync(ctx, "cut", verifyApp(t, variant{Total: 10}, verify, nil))
	verifying(dead, 3)
	h.m = newControlPlane()
	if err := h.m.Recover(h.ctx); err != nil {
		t.Fatal(err)
	}
	nothingLeft(3)
	if got := h.release("cut", 3); got.Status != store.StatusFailed || !slices.Contains(got.Reasons, interruptedReason) {
		t.Errorf("v3 after recovery: status %s, reasons %q; want failed as interrupted", got.Status, got.Reasons)
	}
	if got := h.running("cut"); !slices.Equal(got, []int{1}) {
		t.Errorf("running releases %v; want [1]", got)
	}
	cancel()
	waitDeploy(t, done)
}

// waitDeploy waits for a deploy started with deployAsync.
func waitDeploy(t *testing.T, done <-chan deployResult) deployResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(90 * time.Second):
		t.Fatal("the deploy did not end within 90s")
	}
	return deployResult{}
}

// waitState waits until the app's verification is in state and returns its
// status.
func waitState(t *testing.T, m *Manager, app, state string) Report {
	t.Helper()
	var rep Report
	eventually(t, "verification "+state, 10*time.Second, func() bool {
		var err error
		rep, err = m.VerifyStatus(t.Context(), app)
		return err == nil && rep.State == state
	})
	return rep
}

func containsText(texts []string, want string) bool {
	for _, s := range texts {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}
