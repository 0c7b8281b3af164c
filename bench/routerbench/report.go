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
func printSetup(o options, backend, rtr *child, ngx *nginxProc) {
	nginxBin, _ := findNginx()
	nginxVersion, _ := exec.Command(nginxBin, "-v").CombinedOutput()
	wrkVersion, _ := exec.Command("wrk", "--version").CombinedOutput()
	fmt.Printf("machine: %s, %d cores, load average %s\n", cpuModel(), runtime.NumCPU(), loadAverage())
	fmt.Printf("software: %s, %s, %s\n", runtime.Version(),
		strings.TrimSpace(strings.TrimPrefix(string(nginxVersion), "nginx version: ")),
		firstLine(string(wrkVersion)))
	fmt.Printf("backend: Go net/http, %d-byte JSON, pid %d, %s\n", len(backendBody), backend.pid(), backend.addr)
	fmt.Printf("router:  internal/router in a child process, pid %d, %s\n", rtr.pid(), rtr.addr)
	fmt.Printf("nginx:   worker_processes %s (%d workers), upstream keepalive, pid %d, %s\n",
		o.nginxWorkers, len(ngx.workers()), ngx.cmd.Process.Pid, ngx.addr)
	fmt.Printf("load:    wrk %d threads, %d connections, %s per run, %d runs per target, interleaved\n",
		o.threads, o.connections, o.duration, o.runs)
	fmt.Println("CPU columns: CPU time of the proxy processes and of the backend per request (10 ms resolution per run)")
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

func printSummary(w io.Writer, results map[string][]sample, targets []*target) {
	sums := make(map[string]summary)
	fmt.Fprintf(w, "\nmedians of %d runs\n", len(results[targets[0].name]))
	fmt.Fprintf(w, "%-7s %10s %9s %9s %12s %12s\n", "target", "req/s", "p50", "p99", "proxy CPU", "backend CPU")
	for _, t := range targets {
		s := summarize(results[t.name])
		sums[t.name] = s
		fmt.Fprintf(w, "%-7s %10.0f %9s %9s %12s %12s\n", t.name, s.reqPerSec, fmtLatency(s.p50), fmtLatency(s.p99),
			fmtCPU(s.proxyCPU, len(t.proxyPIDs) > 0), fmtCPU(s.backendCPU, true))
	}
	r, n, d := sums["router"], sums["nginx"], sums["direct"]
	fmt.Fprintf(w, "\n%-14s %7s %7s %7s %10s\n", "ratio", "req/s", "p50", "p99", "proxy CPU")
	fmt.Fprintf(w, "%-14s %7.2f %7.2f %7.2f %10.2f\n", "router/nginx", r.reqPerSec/n.reqPerSec,
		ratio(r.p50, n.p50), ratio(r.p99, n.p99), ratio(r.proxyCPU, n.proxyCPU))
	fmt.Fprintf(w, "%-14s %7.2f %7.2f %7.2f %10s\n", "router/direct", r.reqPerSec/d.reqPerSec,
		ratio(r.p50, d.p50), ratio(r.p99, d.p99), "-")
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// printMemory prints the resident memory of the proxies after the runs. nginx's
// processes share their code pages, so the sum over them overstates a little.
func printMemory(rtr *child, ngx *nginxProc) {
	fmt.Println()
	if m, err := readMemory(rtr.pid()); err == nil {
		fmt.Printf("router RSS after the runs: %s (peak %s)\n", fmtMB(m.rss), fmtMB(m.peak))
	}
	var master, workers memory
	if m, err := readMemory(ngx.cmd.Process.Pid); err == nil {
		master = m
	}
	ws := ngx.workers()
	for _, pid := range ws {
		if m, err := readMemory(pid); err == nil {
			workers.rss += m.rss
			workers.peak += m.peak
		}
	}
	fmt.Printf("nginx RSS after the runs:  master %s + %d workers %s (shared pages counted in each)\n",
		fmtMB(master.rss), len(ws), fmtMB(workers.rss))
}

func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
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
