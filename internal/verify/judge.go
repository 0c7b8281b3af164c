package verify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prosperhq/prosper/internal/compare"
)

// Gate names in a verdict, besides the latency quantiles.
const (
	GateTraffic   = "traffic"
	GateRestarts  = "restarts"
	GateErrorRate = "error_rate"
	GateDiffRate  = "diff_rate"
	GateBots      = "bots"
)

// GateResult is one gate's figures and outcome.
type GateResult struct {
	Name      string `json:"name"`
	Passed    bool   `json:"passed"`
	Live      string `json:"live,omitempty"`
	Candidate string `json:"candidate"`
	Threshold string `json:"threshold"`
	// Skipped says the gate had too little data to be judged; it does not
	// fail the verdict (the traffic gate does that).
	Skipped bool `json:"skipped,omitempty"`
}

// Differences are the response comparison's figures for a verdict.
type Differences struct {
	Total     int                      `json:"total"`
	Differing int                      `json:"differing"`
	Endpoints []compare.EndpointReport `json:"endpoints"`
	// Expected names the endpoints whose answers the release changes on
	// purpose (Prosper-Expect-Change): reported, not counted by diff_rate.
	Expected []string `json:"expected,omitempty"`
}

// counted returns the answers and differing answers diff_rate judges: those of
// the endpoints not expected to change.
func (d Differences) counted() (total, differing int, expected int) {
	total, differing = d.Total, d.Differing
	for _, e := range d.Endpoints {
		if slices.Contains(d.Expected, e.Endpoint) {
			total -= e.Total
			differing -= e.Differing
			expected += e.Total
		}
	}
	return total, differing, expected
}

// Verdict is the outcome of a verification.
type Verdict struct {
	Passed bool         `json:"passed"`
	Gates  []GateResult `json:"gates"`
	// Reasons say, for a failed verdict, which gate failed and what to look at:
	// the endpoint, the JSON path, the bot step.
	Reasons []string `json:"reasons"`
}

// Judge applies the gates to the figures of a window. minRequests is the number
// of compared requests a verdict needs: fewer is a failed traffic gate, since
// missing data is never a pass.
func Judge(f Figures, d Differences, g Gates, minRequests int) Verdict {
	v := Verdict{Passed: true, Reasons: []string{}}
	add := func(r GateResult, reasons ...string) {
		v.Gates = append(v.Gates, r)
		if !r.Passed {
			v.Passed = false
			v.Reasons = append(v.Reasons, reasons...)
		}
	}

	add(GateResult{Name: GateRestarts, Passed: f.Restarts == 0, Candidate: fmt.Sprint(f.Restarts), Threshold: "0"},
		fmt.Sprintf("restarts: the candidate's process ended %d times during verification: %s", f.Restarts, f.Crash))

	add(GateResult{Name: GateTraffic, Passed: f.Requests >= minRequests, Candidate: fmt.Sprint(f.Requests), Threshold: fmt.Sprintf(">= %d", minRequests)},
		fmt.Sprintf("traffic: only %d mirrored requests were compared, %d needed: send traffic, add bots (bots/*.yaml) or lower verify.min_requests", f.Requests, minRequests))

	if f.Requests > 0 {
		rise := f.CandidateErrorRate - f.LiveErrorRate
		add(GateResult{Name: GateErrorRate, Passed: rise <= g.ErrorRate+1e-9,
			Live: Pct(f.LiveErrorRate), Candidate: Pct(f.CandidateErrorRate), Threshold: "+" + Pct(g.ErrorRate)},
			fmt.Sprintf("error_rate: the candidate answered %d of %d mirrored requests with a 5xx or not at all (%s) against live's %d (%s); allowed +%s%s",
				f.CandidateErrors, f.Requests, Pct(f.CandidateErrorRate), f.LiveErrors, Pct(f.LiveErrorRate), Pct(g.ErrorRate), statusEndpoints(d)))

		for _, l := range g.Latency {
			live, cand := f.Live.Get(l.Quantile), f.Candidate.Get(l.Quantile)
			if need := MinLatencySamples(l.Quantile); f.LatencySamples < need {
				v.Gates = append(v.Gates, GateResult{Name: l.Quantile, Passed: true, Skipped: true,
					Candidate: fmt.Sprintf("not judged: %d answers after warm-up, %d needed", f.LatencySamples, need),
					Threshold: l.Text})
				continue
			}
			limit := l.Limit(live)
			add(GateResult{Name: l.Quantile, Passed: cand <= limit,
				Live: msText(live), Candidate: msText(cand), Threshold: l.Text},
				fmt.Sprintf("%s: the candidate took %s against live's %s on the same requests; allowed %s (%s)",
					l.Quantile, msText(cand), msText(live), msText(limit), l.Text))
		}
	}

	if total, differing, expected := d.counted(); total > 0 || expected > 0 {
		rate := 0.0
		if total > 0 {
			rate = float64(differing) / float64(total)
		}
		reasons := []string{fmt.Sprintf("diff_rate: %d of %d mirrored answers differ from live's (%s); allowed %s",
			differing, total, Pct(rate), Pct(g.DiffRate))}
		if expected > 0 {
			reasons[0] += fmt.Sprintf(" (%d answers of endpoints expected to change not counted)", expected)
		}
		shown := 0
		for _, e := range d.Endpoints {
			if e.Differing == 0 || shown >= 5 {
				break
			}
			if slices.Contains(d.Expected, e.Endpoint) {
				continue
			}
			shown++
			rs := e.Reasons()
			if len(rs) > 3 {
				rs = rs[:3]
			}
			reasons = append(reasons, rs...)
		}
		add(GateResult{Name: GateDiffRate, Passed: rate <= g.DiffRate+1e-9,
			Candidate: Pct(rate), Threshold: Pct(g.DiffRate)}, reasons...)
	}

	runs, passed := 0, 0
	var reasons []string
	missing := false
	for _, b := range f.Bots {
		if !b.Judged() {
			missing = true
			reasons = append(reasons, fmt.Sprintf("bots: journey %q has no run judged on the candidate (%d runs on live): "+
				"missing data is never a pass; give verify.window more time or run the journey more often (every: in its file)",
				b.Scenario, b.LiveRuns))
			continue
		}
		if b.LiveFailures > 0 && b.LiveFailures == b.LiveRuns {
			// The journey fails on live as well: it says nothing about the
			// candidate (a broken bot, or a new journey for a new feature).
			continue
		}
		runs += b.CandidateRuns
		passed += b.CandidateRuns - b.CandidateFails
		if b.CandidateFails > 0 {
			s := fmt.Sprintf("bots: journey %q failed %d of %d runs on the candidate: %s", b.Scenario, b.CandidateFails, b.CandidateRuns, b.Reason)
			if b.Cost != "" {
				s += fmt.Sprintf(" (in production each failure would cost %s)", b.Cost)
			}
			reasons = append(reasons, s)
		}
	}
	if runs > 0 || missing {
		rate := 0.0
		if runs > 0 {
			rate = float64(passed) / float64(runs)
		}
		add(GateResult{Name: GateBots, Passed: !missing && rate >= g.Bots-1e-9,
			Candidate: fmt.Sprintf("%d/%d passed", passed, runs), Threshold: Pct(g.Bots)}, reasons...)
	}
	return v
}

// statusEndpoints names the endpoints whose status changed, for the error gate.
func statusEndpoints(d Differences) string {
	var names []string
	for _, e := range d.Endpoints {
		for _, p := range e.Paths {
			if p.Kind == compare.KindStatus && strings.HasPrefix(p.Candidate, "5") {
				names = append(names, fmt.Sprintf("%s answered %s where live answered %s", e.Endpoint, p.Candidate, p.Live))
				break
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	if len(names) > 3 {
		names = names[:3]
	}
	return ": " + strings.Join(names, "; ")
}

// Pct writes a share (0..1) as a percentage with one decimal at most: "1.5%",
// "10%".
func Pct(f float64) string {
	s := fmt.Sprintf("%.1f", f*100)
	s = strings.TrimSuffix(s, ".0")
	return s + "%"
}

func msText(f float64) string {
	if f >= 100 {
		return fmt.Sprintf("%.0f ms", f)
	}
	return fmt.Sprintf("%.1f ms", f)
}
