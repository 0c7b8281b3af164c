package main

import (
	"slices"
	"strings"
	"testing"
)

func TestPhaseNames(t *testing.T) {
	machine := []sample{{phases: map[string]float64{"switch": 1, "build": 1, "receive": 1}}}
	cluster := []sample{{phases: map[string]float64{"build": 1, "push": 1, "health": 1}}, {phases: map[string]float64{"image": 1}}}
	tests := []struct {
		name string
		runs [][]sample
		want []string
	}{
		{"none", nil, nil},
		{"one machine", [][]sample{machine}, []string{"receive", "build", "switch"}},
		{"both, unknown phases last by name", [][]sample{machine, cluster}, []string{"receive", "build", "health", "switch", "image", "push"}},
	}
	for _, tt := range tests {
		if got := phaseNames(tt.runs...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: phaseNames = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPrintComparison(t *testing.T) {
	machine := result{runs: 3, warmUp: 4, upRSS: 30, nodeRSS: 20, sent: 900, samples: []sample{
		{promoted: 11, live: 11.5, goBuild: 1.2, compared: 200, phases: map[string]float64{"build": 1.3, "health": 0.05}},
		{promoted: 12, live: 12.5, goBuild: 1.0, compared: 220, phases: map[string]float64{"build": 1.5, "health": 0.07}},
		{promoted: 13, live: 13.5, goBuild: 1.4, compared: 210, phases: map[string]float64{"build": 1.1, "health": 0.06}},
	}}
	cluster := result{runs: 3, warmUp: 20, upRSS: 45, nodeRSS: 30, sent: 1200, failed: 2, samples: []sample{
		{promoted: 24, live: 30, goBuild: 1.2, compared: 180, phases: map[string]float64{"build": 2.6, "health": 3}},
		{promoted: 22, live: 23, goBuild: 1.2, compared: 190, phases: map[string]float64{"build": 2.2, "health": 2, "image": 0.5}},
	}}
	var b strings.Builder
	printComparison(&b, machine, cluster)
	out := b.String()
	for _, want := range []string{
		"| | one machine, median of 3 | Kubernetes, median of 2 | cluster / one machine |",
		"| push → PROMOTED (git push → the verdict line) | **12.00 s** | **23.00 s** | 1.92× |",
		"| push → live (git push → every answer from the new release) | **12.50 s** | **26.50 s** | 2.12× |",
		"| build (`go build`; CGO_ENABLED=0 for the cluster) | 1.30 s | 2.40 s | 1.85× |",
		"| 0.060 s | 2.50 s | 41.67× |",
		// A phase only the cluster's record has: no ratio.
		"| image | 0.000 s | 0.250 s | – |",
		"| requests compared per verification (`differences.total`) | 210 | 185 | 0.88× |",
		"| warm-up push (first release, first build, not verified) | 4.00 s | 20.00 s | 5.00× |",
		"| idle footprint, control plane + node (router), RSS | 50.0 MB | 75.0 MB | 1.50× |",
		"promoted: one machine 3 of 3, Kubernetes 2 of 3; failed user requests: one machine 0 of 900, Kubernetes 2 of 1200",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "push → PROMOTED"), strings.Index(out, "build ("); i > j {
		t.Errorf("phases before the clocks:\n%s", out)
	}
}
