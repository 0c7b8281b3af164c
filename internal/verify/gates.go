// Package verify judges a candidate release against the live one over a
// verification window: it parses the gates of prosper.yaml, accumulates what
// the window showed (mirrored exchanges, bot journeys, restarts) and turns the
// figures into a verdict with reasons a person can act on.
//
// It is pure: the rollout feeds it and decides what to do with the verdict.
package verify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// Defaults that work with no verify: section at all.
const (
	DefaultWindow      = 10 * time.Second
	DefaultMinRequests = 10
	DefaultGrace       = 60 * time.Second
	// LatencySlack is the absolute rise of a latency quantile that a ratio
	// threshold always allows: below it, a difference is within the noise of a
	// few hundred loopback samples and no user would notice it.
	LatencySlack = 10 * time.Millisecond
)

// Latency is a latency threshold: at most Ratio times live's quantile, or at
// most live's plus Add. A ratio threshold allows LatencySlack too.
type Latency struct {
	Quantile string // "p50", "p95", "p99"
	Ratio    float64
	Add      time.Duration
	Text     string // as written: "x1.3", "+50ms"
}

// Limit returns the highest candidate latency (ms) allowed when live's is live.
func (l Latency) Limit(live float64) float64 {
	if l.Ratio > 0 {
		return max(live*l.Ratio, live+ms(LatencySlack))
	}
	return live + ms(l.Add)
}

// Gates are the thresholds a candidate must meet.
type Gates struct {
	// ErrorRate is the allowed rise of the error rate over live's, 0..1.
	ErrorRate float64
	// Latency holds the latency gates, p50 first.
	Latency []Latency
	// DiffRate is the allowed share of compared answers that differ, 0..1.
	DiffRate float64
	// Bots is the share of the candidate's bot journeys that must pass, 0..1.
	Bots float64
}

// DefaultGates are the gates of an app whose prosper.yaml sets none.
func DefaultGates() Gates {
	g, err := ParseGates(nil)
	if err != nil {
		panic(err)
	}
	return g
}

var defaultThresholds = map[string]string{
	appconfig.GateErrorRate: "+1%",
	appconfig.GateP50:       "x1.3",
	appconfig.GateP95:       "x1.3",
	appconfig.GateP99:       "x1.3",
	appconfig.GateDiffRate:  "1%",
	appconfig.GateBots:      "100%",
}

// ParseGates reads verify.gates as prosper.yaml writes them; a gate left out
// takes its default (error_rate +1%, p50/p95/p99 x1.3, diff_rate 1%, bots 100%).
func ParseGates(written map[string]string) (Gates, error) {
	all := map[string]string{}
	for k, v := range defaultThresholds {
		all[k] = v
	}
	for k, v := range written {
		if _, ok := all[k]; !ok {
			return Gates{}, fmt.Errorf("unknown gate %q", k)
		}
		all[k] = strings.TrimSpace(v)
	}
	var g Gates
	var err error
	if g.ErrorRate, err = percent(strings.TrimPrefix(all[appconfig.GateErrorRate], "+")); err != nil {
		return Gates{}, fmt.Errorf("gate error_rate: %w", err)
	}
	if g.DiffRate, err = percent(all[appconfig.GateDiffRate]); err != nil {
		return Gates{}, fmt.Errorf("gate diff_rate: %w", err)
	}
	if g.Bots, err = percent(all[appconfig.GateBots]); err != nil {
		return Gates{}, fmt.Errorf("gate bots: %w", err)
	}
	for _, q := range []string{appconfig.GateP50, appconfig.GateP95, appconfig.GateP99} {
		l, err := parseLatency(q, all[q])
		if err != nil {
			return Gates{}, fmt.Errorf("gate %s: %w", q, err)
		}
		g.Latency = append(g.Latency, l)
	}
	return g, nil
}

func parseLatency(q, s string) (Latency, error) {
	l := Latency{Quantile: q, Text: s}
	if r, ok := strings.CutPrefix(s, "x"); ok {
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || f < 1 {
			return l, fmt.Errorf("%q: write x1.3 (at most 1.3 times live's %s) or +50ms", s, q)
		}
		l.Ratio = f
		return l, nil
	}
	if r, ok := strings.CutPrefix(s, "+"); ok {
		d, err := time.ParseDuration(r)
		if err != nil || d < 0 {
			return l, fmt.Errorf("%q: write x1.3 or +50ms", s)
		}
		l.Add = d
		return l, nil
	}
	return l, fmt.Errorf("%q: write x1.3 or +50ms", s)
}

func percent(s string) (float64, error) {
	n, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("%q: write a percentage such as 1%%", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("%q: write a percentage from 0%% to 100%%", s)
	}
	return f / 100, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
