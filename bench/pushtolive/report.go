package main

import (
	"fmt"
	"io"
	"slices"
)

// phases are the release record's phases, in the order a push goes through
// them; copy and the candidate's start are part of verify.
var phases = []string{"receive", "build", "copy", "verify", "start", "health", "switch"}

// phaseWords say what each phase is, in the tables.
var phaseWords = map[string]string{
	"receive": "receive (unpack the tree)",
	"build":   "build (`go build`)",
	"copy":    "copy (live data → candidate and control, inside verify)",
	"verify":  "verify (copy, start candidate + control, window, verdict)",
	"start":   "start (spawn the promoted release on the live data)",
	"health":  "health (until `GET /healthz` answers)",
	"switch":  "switch (router table swap + store)",
}

// sample is one measured push.
type sample struct {
	promoted float64 // push → PROMOTED line
	live     float64 // push → every answer from the new release
	pushed   float64 // push → git push returned
	phases   map[string]float64
	goBuild  float64 // go build alone of the same change
	window   float64 // the verification window
	elapsed  float64 // how long the verification ran
	compared int     // differences.total
	differ   int     // differences.differing
	// unexpected differ outside the endpoints declared as changed; ignored
	// are differences dropped as noise.
	unexpected, ignored int
	botRuns             int // the candidate's bot journeys
	botFails            int
	users               int // user requests sent during the run
	failed              int // of which failed
}

// median of the values; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func medianOf(samples []sample, f func(sample) float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = f(s)
	}
	return median(v)
}

func printRun(w io.Writer, i int, s sample) {
	fmt.Fprintf(w, "run %d: PROMOTED after %.2fs, live after %.2fs (push returned %.2fs); compared %d (%d differ, %d of them unexpected; %d noise ignored), bots %d/%d, user requests %d (%d failed)\n",
		i, s.promoted, s.live, s.pushed, s.compared, s.differ, s.unexpected, s.ignored, s.botRuns-s.botFails, s.botRuns, s.users, s.failed)
	fmt.Fprintf(w, "       ")
	for _, ph := range phases {
		fmt.Fprintf(w, " %s %.3f", ph, s.phases[ph])
	}
	fmt.Fprintf(w, "; verification ran %.2fs of a %.0fs window; go build alone %.2fs\n", s.elapsed, s.window, s.goBuild)
}

// printSummary writes the medians as the Markdown table BENCHMARKS.md keeps.
func printSummary(w io.Writer, samples []sample) {
	n := len(samples)
	med := func(f func(sample) float64) float64 { return medianOf(samples, f) }
	promotedAt := med(func(s sample) float64 { return s.promoted })
	live := med(func(s sample) float64 { return s.live })
	floor := med(func(s sample) float64 { return s.goBuild })
	window := med(func(s sample) float64 { return s.window })
	fmt.Fprintf(w, "\n| | median of %d |\n|---|---:|\n", n)
	fmt.Fprintf(w, "| push → PROMOTED (git push → the verdict line) | **%.2f s** |\n", promotedAt)
	fmt.Fprintf(w, "| push → live (git push → every answer from the new release) | **%.2f s** |\n", live)
	for _, ph := range phases {
		fmt.Fprintf(w, "| %s | %.3f s |\n", phaseWords[ph], med(func(s sample) float64 { return s.phases[ph] }))
	}
	fmt.Fprintf(w, "| verification window (`verify.window`, default) | %.0f s |\n", window)
	fmt.Fprintf(w, "| verification, as it ran (window + until the verdict) | %.2f s |\n", med(func(s sample) float64 { return s.elapsed }))
	fmt.Fprintf(w, "| requests compared per verification (`differences.total`) | %.0f |\n", med(func(s sample) float64 { return float64(s.compared) }))
	fmt.Fprintf(w, "| `go build` alone, same change and flags (the floor) | %.2f s |\n", floor)
	fmt.Fprintf(w, "| ratio push-to-live / (`go build` + window) | **%.2f×** |\n", live/(floor+window))

	compared, differ, unexpected, ignored, runs, fails, users, failed := 0, 0, 0, 0, 0, 0, 0, 0
	for _, s := range samples {
		compared += s.compared
		differ += s.differ
		unexpected += s.unexpected
		ignored += s.ignored
		runs += s.botRuns
		fails += s.botFails
		users += s.users
		failed += s.failed
	}
	fmt.Fprintf(w, "\nover the %d runs: %d requests compared (%d differ, %d of them outside the endpoints expected to change; %d differences ignored as noise), candidate bot journeys %d/%d passed, user requests %d sent, %d failed\n",
		n, compared, differ, unexpected, ignored, runs-fails, runs, users, failed)
	fmt.Fprintf(w, "target: push → PROMOTED <= 15 s median: %s\n", map[bool]string{true: "met", false: "NOT met"}[promotedAt <= 15])
}

// print writes the medians, the verdicts, the user traffic and the idle
// footprint of one bench.
func (r result) print(w io.Writer) {
	if len(r.samples) > 0 {
		printSummary(w, r.samples)
	}
	fmt.Fprintf(w, "verdicts: %d promoted, %d rejected\n", len(r.samples), len(r.rejections))
	for _, rej := range r.rejections {
		fmt.Fprintf(w, "  rejected: %s\n", rej)
	}
	fmt.Fprintf(w, "user traffic over the whole bench (%d req/s): %d requests, %d failed\n", r.rate, r.sent, r.failed)
	for _, f := range r.failures {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
	fmt.Fprintf(w, "\nidle footprint with the example live: control plane %.1f MB + node (router, supervisor) %.1f MB = %.1f MB RSS (target <= 80 MB)\n",
		r.upRSS, r.nodeRSS, r.upRSS+r.nodeRSS)
}
