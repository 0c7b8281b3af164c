package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
)

// comparison is one line of the side-by-side table: a figure on one machine
// and on Kubernetes.
type comparison struct {
	what             string
	machine, cluster float64
	unit             string // "s", "MB" or "" for a count
	bold             bool
}

// compareWords say what a phase is where it differs between the two modes.
var compareWords = map[string]string{
	"build":  "build (`go build`; CGO_ENABLED=0 for the cluster)",
	"start":  "start (the promoted release: a process here; image push + Deployment on the cluster)",
	"health": "health (until `GET /healthz` answers; on the cluster: the pod scheduled, pulled, ready)",
}

// compare lines up the medians of the bench on one machine and on
// Kubernetes: the two clocks, every phase either release record has, the
// verification and the floor, the first push and the idle footprint.
func compare(machine, cluster result) []comparison {
	med := func(r result, f func(sample) float64) float64 { return medianOf(r.samples, f) }
	both := func(what, unit string, bold bool, f func(sample) float64) comparison {
		return comparison{what: what, machine: med(machine, f), cluster: med(cluster, f), unit: unit, bold: bold}
	}
	rows := []comparison{
		both("push → PROMOTED (git push → the verdict line)", "s", true, func(s sample) float64 { return s.promoted }),
		both("push → live (git push → every answer from the new release)", "s", true, func(s sample) float64 { return s.live }),
	}
	for _, ph := range phaseNames(machine.samples, cluster.samples) {
		words := cmp.Or(compareWords[ph], phaseWords[ph])
		if words == "" {
			words = ph
		}
		rows = append(rows, both(words, "s", false, func(s sample) float64 { return s.phases[ph] }))
	}
	return append(rows,
		both("verification, as it ran (window + until the verdict)", "s", false, func(s sample) float64 { return s.elapsed }),
		both("requests compared per verification (`differences.total`)", "", false, func(s sample) float64 { return float64(s.compared) }),
		both("`go build` alone, same change and flags (the floor)", "s", false, func(s sample) float64 { return s.goBuild }),
		comparison{what: "warm-up push (first release, first build, not verified)", machine: machine.warmUp, cluster: cluster.warmUp, unit: "s"},
		comparison{what: "idle footprint, control plane + node (router), RSS", machine: machine.upRSS + machine.nodeRSS,
			cluster: cluster.upRSS + cluster.nodeRSS, unit: "MB"},
	)
}

// phaseNames are the phases the release records of both benches have: the
// known ones in the order a push goes through them, then any other by name.
func phaseNames(runs ...[]sample) []string {
	seen := map[string]bool{}
	for _, samples := range runs {
		for _, s := range samples {
			for ph := range s.phases {
				seen[ph] = true
			}
		}
	}
	var names []string
	for _, ph := range phases {
		if seen[ph] {
			names = append(names, ph)
			delete(seen, ph)
		}
	}
	return append(names, slices.Sorted(maps.Keys(seen))...)
}

// printComparison writes the two benches side by side as a Markdown table,
// with the ratio cluster / one machine of every figure.
func printComparison(w io.Writer, machine, cluster result) {
	fmt.Fprintf(w, "\n| | one machine, median of %d | Kubernetes, median of %d | cluster / one machine |\n|---|---:|---:|---:|\n",
		len(machine.samples), len(cluster.samples))
	for _, c := range compare(machine, cluster) {
		m, k := figure(c.machine, c.unit), figure(c.cluster, c.unit)
		if c.bold {
			m, k = "**"+m+"**", "**"+k+"**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.what, m, k, ratio(c.cluster, c.machine))
	}
	fmt.Fprintf(w, "\npromoted: one machine %d of %d, Kubernetes %d of %d; failed user requests: one machine %d of %d, Kubernetes %d of %d\n",
		len(machine.samples), machine.runs, len(cluster.samples), cluster.runs, machine.failed, machine.sent, cluster.failed, cluster.sent)
}

func figure(v float64, unit string) string {
	switch unit {
	case "s":
		if v < 1 {
			return fmt.Sprintf("%.3f s", v)
		}
		return fmt.Sprintf("%.2f s", v)
	case "MB":
		return fmt.Sprintf("%.1f MB", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// ratio is cluster / machine, or "–" when the machine's figure is 0 (a phase
// the one-machine release record does not have).
func ratio(cluster, machine float64) string {
	if machine == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", cluster/machine)
}
