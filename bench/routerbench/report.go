package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printSetup says what is measured and on what, so a pasted result is complete.
func printSetup(w io.Writer, o options, env *benchEnv) {
	wrkVersion, _ := exec.Command("wrk", "--version").CombinedOutput()
	fmt.Fprintf(w, "machine: %s, %d cores, load average %s\n", cpuModel(), runtime.NumCPU(), loadAverage())
	wrk, _, _ := strings.Cut(firstLine(string(wrkVersion)), " Copyright")
	versions := []string{runtime.Version(), wrk}
	for _, p := range env.peers {
		versions = append(versions, p.spec.versionString())
	}
	fmt.Fprintf(w, "software: %s\n", strings.Join(versions, "; "))
	fmt.Fprintf(w, "backend:   Go net/http, %d-byte JSON, pid %d, %s\n", len(backendBody), env.backend.pid(), env.backend.addr)
	fmt.Fprintf(w, "router:    internal/router in a child process, GOMAXPROCS %d, pid %d, %s\n", o.workers, env.router.pid(), env.router.addr)
	fmt.Fprintf(w, "router+mirror: the same with 100%% mirrored to a second backend (pid %d) and compare.Diff on every exchange, pid %d, %s\n",
		env.candidate.pid(), env.mirror.pid(), env.mirror.addr)
	for _, p := range env.peers {
		fmt.Fprintf(w, "%-10s %d workers/threads, keep-alive to the backend, no access log, pids %v, %s\n",
			p.spec.name+":", o.workers, p.pids(), p.addr)
	}
	for _, s := range env.skipped {
		fmt.Fprintf(w, "skipped:   %s\n", s)
	}
	fmt.Fprintf(w, "load:      wrk %d threads, %d connections, %s per run, %d runs per target, interleaved\n",
		o.threads, o.connections, o.duration, o.runs)
	if o.pacedRuns > 0 {
		fmt.Fprintf(w, "paced:     %d connections, %s per run, %d runs per rate, interleaved\n", o.connections, o.pacedDuration, o.pacedRuns)
	}
	fmt.Fprintln(w, "CPU columns: CPU time of the proxy processes and of the backend per request (10 ms resolution per run)")
}

// summary is the medians of one target's runs.
type summary struct {
	reqPerSec            float64
	p50, p99             time.Duration
	proxyCPU, backendCPU time.Duration
}

func summarize(samples []sample) summary {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		return median(v)
	}
	return summary{
		reqPerSec:  pick(func(s sample) float64 { return s.reqPerSec }),
		p50:        time.Duration(pick(func(s sample) float64 { return float64(s.p50) })),
		p99:        time.Duration(pick(func(s sample) float64 { return float64(s.p99) })),
		proxyCPU:   time.Duration(pick(func(s sample) float64 { return float64(s.proxyCPU) })),
		backendCPU: time.Duration(pick(func(s sample) float64 { return float64(s.backendCPU) })),
	}
}

// median of the values; the mean of the middle two for an even count.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// printSaturation prints the medians of the saturation runs, each target's
// req/s as a share of the direct path's, and the router's ratios to each peer
// and the mirroring router's to the router.
func printSaturation(w io.Writer, runs int, targets []*target, sums map[string]summary) {
	d := sums[nameDirect]
	fmt.Fprintf(w, "\nsaturation: medians of %d runs\n", runs)
	fmt.Fprintf(w, "%-14s %10s %9s %9s %12s %12s %10s\n", "target", "req/s", "p50", "p99", "proxy CPU", "backend CPU", "vs direct")
	for _, t := range targets {
		s := sums[t.name]
		fmt.Fprintf(w, "%-14s %10.0f %9s %9s %12s %12s %10.2f\n", t.name, s.reqPerSec, fmtLatency(s.p50), fmtLatency(s.p99),
			fmtCPU(s.proxyCPU, len(t.proxyPIDs) > 0), fmtCPU(s.backendCPU, true), s.reqPerSec/d.reqPerSec)
	}
	r := sums[nameRouter]
	fmt.Fprintf(w, "\n%-22s %7s %7s %7s %10s\n", "ratio", "req/s", "p50", "p99", "proxy CPU")
	for _, t := range targets {
		if t.name == nameRouter || t.name == nameDirect {
			continue
		}
		num, den, label := r, sums[t.name], "router/"+t.name
		if t.name == nameMirror {
			num, den, label = sums[t.name], r, nameMirror+"/router"
		}
		fmt.Fprintf(w, "%-22s %7.2f %7.2f %7.2f %10.2f\n", label, num.reqPerSec/den.reqPerSec,
			ratio(num.p50, den.p50), ratio(num.p99, den.p99), ratio(num.proxyCPU, den.proxyCPU))
	}
	fmt.Fprintf(w, "%-22s %7.2f %7.2f %7.2f %10s\n", "router/direct", r.reqPerSec/d.reqPerSec,
		ratio(r.p50, d.p50), ratio(r.p99, d.p99), "-")
}

// printPaced prints, for each proxy paced at half its saturated req/s, its
// latency and the direct path's at the same rate, and the p99 it adds.
func printPaced(w io.Writer, o options, jobs []pacedJob, res [][]pacedResult) {
	direct := make(map[string]pacedSummary)
	for i, j := range jobs {
		if j.target.name == nameDirect {
			direct[j.ref] = summarizePaced(res[i])
		}
	}
	fmt.Fprintf(w, "\npaced at %.0f%% of saturation: medians of %d runs (best: the run with the lowest p99)\n", pacedShare*100, o.pacedRuns)
	fmt.Fprintf(w, "%-14s %7s %8s %8s %9s %9s %9s %10s %9s %9s %10s\n", "target", "rate", "answered", "p50", "p99",
		"direct p50", "direct p99", "added p99", "best p99", "best dir.", "best added")
	for i, j := range jobs {
		if j.target.name == nameDirect || j.target.name != j.ref || j.share != pacedShare {
			continue
		}
		s, d := summarizePaced(res[i]), direct[j.ref]
		fmt.Fprintf(w, "%-14s %7.0f %8.0f %8s %9s %9s %9s %10s %9s %9s %10s\n", j.target.name, j.rate, s.rate,
			fmtLatency(s.p50), fmtLatency(s.p99), fmtLatency(d.p50), fmtLatency(d.p99), fmtSigned(s.p99-d.p99),
			fmtLatency(s.bestP99), fmtLatency(d.bestP99), fmtSigned(s.bestP99-d.bestP99))
	}
}

// printMirror prints, for each rate the mirroring router was paced at, the live
// path's latency through the router with and without mirroring at that rate,
// then what became of the copies.
func printMirror(w io.Writer, jobs []pacedJob, res [][]pacedResult, paced mirrorAccount) {
	for i, on := range jobs {
		if on.target.name != nameMirror {
			continue
		}
		off := slices.IndexFunc(jobs, func(j pacedJob) bool { return j.target.name == nameRouter && j.share == on.share })
		if off < 0 {
			continue
		}
		a, b := summarizePaced(res[off]), summarizePaced(res[i])
		r := ratio(b.p99, a.p99)
		verdict := "within 10%"
		if r > 1.10 {
			verdict = "NOT within 10%"
		}
		fmt.Fprintf(w, "\nmirroring at %.0f req/s (%.0f%% of the router's saturation), live path:\n", on.rate, on.share*100)
		fmt.Fprintf(w, "  mirroring off: p50 %s, p99 %s (best %s)\n", fmtLatency(a.p50), fmtLatency(a.p99), fmtLatency(a.bestP99))
		fmt.Fprintf(w, "  mirroring on:  p50 %s, p99 %s (best %s), answered %.0f/s\n", fmtLatency(b.p50), fmtLatency(b.p99),
			fmtLatency(b.bestP99), b.rate)
		fmt.Fprintf(w, "  p99 on/off %.2f: %s; best p99 on/off %.2f; p50 on/off %.2f\n", r, verdict,
			ratio(b.bestP99, a.bestP99), ratio(b.p50, a.p50))
	}
	fmt.Fprintf(w, "%s in the paced runs: %s\n", nameMirror, describeAccount(paced))
}

// describeAccount says what became of the requests the mirroring router served.
func describeAccount(a mirrorAccount) string {
	if a.requests == 0 {
		return "no request served"
	}
	pct := func(n int64) float64 { return 100 * float64(n) / float64(a.requests) }
	return fmt.Sprintf("of %d requests: %d compared (%.1f%%), %d differing, %d dropped at a full mirror queue (%.1f%%), %d copy errors, %d skipped, %d not compared as the client hung up",
		a.requests, a.compared, pct(a.compared), a.differing, a.dropped, pct(a.dropped), a.errors, a.skipped, a.liveIncomplete)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// printMemory prints the resident memory of the proxies after the runs, and what
// the mirroring router did with the requests of the saturation runs. nginx's
// processes share their code pages, so the sum over them overstates a little.
func printMemory(w io.Writer, env *benchEnv) {
	fmt.Fprintf(w, "\n%s under saturation: %s\n", nameMirror, describeAccount(env.satMirror))
	fmt.Fprintln(w, "\nresident memory after the runs (peak):")
	for i, c := range []*child{env.router, env.mirror} {
		if m, err := readMemory(c.pid()); err == nil {
			fmt.Fprintf(w, "  %-14s %s (%s)\n", []string{nameRouter, nameMirror}[i], fmtMB(m.rss), fmtMB(m.peak))
		}
	}
	for _, p := range env.peers {
		m, n := p.memory()
		fmt.Fprintf(w, "  %-14s %s (%s) in %d processes\n", p.spec.name, fmtMB(m.rss), fmtMB(m.peak), n)
	}
}

func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// fmtSigned formats a latency difference with its sign.
func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "-" + fmtLatency(-d)
	}
	return "+" + fmtLatency(d)
}

func fmtCPU(d time.Duration, measured bool) string {
	if !measured {
		return "-"
	}
	return fmt.Sprintf("%.1fµs/req", float64(d)/float64(time.Microsecond))
}

func fmtMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}
