package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/compare"
	"github.com/prosperhq/prosper/internal/rollout"
	"github.com/prosperhq/prosper/internal/verify"
)

func TestPrintReport(t *testing.T) {
	rep := rollout.Report{
		App: "shop", State: "rejected", Candidate: 3, Live: 2, MirrorPercent: 100, WindowSeconds: 10, ElapsedSeconds: 10,
		Verdict: verify.Verdict{Gates: []verify.GateResult{
			{Name: "diff_rate", Candidate: "100%", Threshold: "1%"},
			{Name: "p99", Passed: true, Skipped: true, Candidate: "not judged: 40 answers after warm-up, 500 needed", Threshold: "x1.3"},
		}, Reasons: []string{"GET /api/order: $.total changed value, e.g. 10 → 11 (40 of 40 answers, 100%)"}},
		Figures: verify.Figures{Bots: []verify.BotStat{{Scenario: "book", LiveRuns: 4, CandidateRuns: 4, CandidateFails: 1, Reason: `step 2 "read": status 404, want 200`}}},
		Differences: verify.Differences{Total: 40, Differing: 40, Endpoints: []compare.EndpointReport{{
			Endpoint: "GET /api/order", Total: 40, Differing: 40,
			Paths: []compare.PathStat{{Path: "$.total", Kind: "value", Count: 40, Live: "10", Candidate: "11"}},
			Examples: []compare.Example{{Request: compare.RequestSample{Method: "GET", Path: "/api/order?x=1"},
				Live: compare.ResponseSample{Status: 200, Body: `{"total": 10}`}, Candidate: compare.ResponseSample{Status: 200, Body: `{"total": 11}`}}},
		}}},
	}
	var b bytes.Buffer
	if err := printReport(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"shop v3 against live v2: REJECTED",
		"40 requests compared, 40 differ",
		"diff_rate", "FAIL", "not judged",
		"$.total (value) in 40: live 10, candidate 11",
		"example: GET /api/order?x=1", `candidate 200 {"total": 11}`,
		"book", "3/4", `step 2 "read": status 404`,
		"Reasons:", "$.total changed value",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report does not show %q:\n%s", want, b.String())
		}
	}
}
