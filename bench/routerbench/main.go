// Command routerbench compares, in one run on loopback, the throughput and
// latency of a small HTTP backend reached directly, through prosper's router
// (internal/router) and through nginx as a reverse proxy. wrk drives each target
// for a fixed time, the targets take turns, and the medians over the runs are
// printed with the router's ratios to nginx and to the direct path. The backend
// and the router run as child processes (this binary re-executed), nginx as a
// foreground child with a generated config; all of them are killed at the end.
//
// Run it with bench/router, which installs nginx and wrk if they are missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	load
	runs         int
	warmup       time.Duration
	nginxWorkers string
}

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "serve-") {
		if err := serveChild(os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.IntVar(&o.runs, "runs", 5, "measured runs of each target, interleaved")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one wrk run (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run of each target first (0 for none)")
	flag.IntVar(&o.connections, "connections", 16, "wrk connections")
	flag.IntVar(&o.threads, "threads", runtime.NumCPU(), "wrk threads (default: one per core)")
	// auto gives nginx one worker per core, the same CPU budget the router's Go
	// runtime has: GOMAXPROCS defaults to the number of cores.
	flag.StringVar(&o.nginxWorkers, "nginx-workers", "auto", "nginx worker_processes")
	flag.Parse()
	if o.runs < 1 || o.duration < time.Second || o.connections < o.threads || o.threads < 1 {
		fmt.Fprintln(os.Stderr, "error: want -runs >= 1, -duration >= 1s, -threads >= 1 and -connections >= -threads")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// target is one way to reach the backend.
type target struct {
	name string
	url  string
	// proxyPIDs are the processes that do the proxying, for their CPU time.
	proxyPIDs []int
	// check tells whether a response really came through this path.
	check func(*http.Response) error
}

func run(ctx context.Context, o options) error {
	// Everything is bounded: setup, the warm-ups, the runs and a margin.
	perRun := o.duration + 3*time.Second
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(3*o.runs)*perRun+3*(o.warmup+3*time.Second))
	defer cancel()

	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found; install it: apt-get install -y wrk")
	}
	dir, err := os.MkdirTemp("", "routerbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx's workers may run as an unprivileged user and must reach the dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}

	backend, err := startChild(ctx, modeBackend)
	if err != nil {
		return err
	}
	defer backend.stop()
	rtr, err := startChild(ctx, modeRouter, backend.addr)
	if err != nil {
		return err
	}
	defer rtr.stop()
	ngx, err := startNginx(ctx, dir, backend.addr, o.nginxWorkers)
	if err != nil {
		return err
	}
	defer ngx.stop()

	targets := []*target{
		{name: "direct", url: "http://" + backend.addr + "/", check: func(*http.Response) error { return nil }},
		{name: "router", url: "http://" + rtr.addr + "/", proxyPIDs: []int{rtr.pid()}, check: viaRouter},
		{name: "nginx", url: "http://" + ngx.addr + "/", proxyPIDs: append([]int{ngx.cmd.Process.Pid}, ngx.workers()...), check: viaNginx},
	}
	for _, t := range targets {
		if err := verify(ctx, t); err != nil {
			return err
		}
	}

	printSetup(o, backend, rtr, ngx)
	if o.warmup > 0 {
		fmt.Printf("warm-up: %s per target, not counted\n", o.warmup)
		for _, t := range targets {
			if _, err := runWrk(ctx, t.url, load{o.threads, o.connections, o.warmup}); err != nil {
				return err
			}
		}
	}

	results := make(map[string][]sample)
	fmt.Printf("\n%-4s %-7s %10s %9s %9s %12s %12s\n", "run", "target", "req/s", "p50", "p99", "proxy CPU", "backend CPU")
	for i := range o.runs {
		// The order rotates so that no target always runs first or last, after
		// the same neighbour.
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			s, err := measure(ctx, t, backend.pid(), o.load)
			if err != nil {
				return err
			}
			results[t.name] = append(results[t.name], s)
			fmt.Printf("%-4d %-7s %10.0f %9s %9s %12s %12s\n", i+1, t.name, s.reqPerSec,
				fmtLatency(s.p50), fmtLatency(s.p99), fmtCPU(s.proxyCPU, len(t.proxyPIDs) > 0), fmtCPU(s.backendCPU, true))
		}
	}

	printSummary(os.Stdout, results, targets)
	printMemory(rtr, ngx)
	fmt.Printf("load average at the end: %s\n", loadAverage())
	return nil
}

// verify makes one request through the target and checks that it returns the
// backend's body by the expected path, so a misconfigured target cannot be
// measured as a fast one.
func verify(ctx context.Context, t *target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	req.Host = benchHost
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("check %s: %w", t.name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("check %s: %w", t.name, err)
	}
	if res.StatusCode != http.StatusOK || string(body) != string(backendBody) {
		return fmt.Errorf("check %s: status %d, body %q: want 200 and the backend's body", t.name, res.StatusCode, body)
	}
	if err := t.check(res); err != nil {
		return fmt.Errorf("check %s: %w", t.name, err)
	}
	return nil
}

func viaRouter(res *http.Response) error {
	if res.Header.Get("Prosper-Release") == "" {
		return fmt.Errorf("no Prosper-Release header: not answered through the router")
	}
	return nil
}

func viaNginx(res *http.Response) error {
	if !strings.HasPrefix(res.Header.Get("Server"), "nginx") {
		return fmt.Errorf("server %q: not answered through nginx", res.Header.Get("Server"))
	}
	return nil
}

// sample is one measured run of one target.
type sample struct {
	wrkResult
	// proxyCPU and backendCPU are CPU time per request.
	proxyCPU, backendCPU time.Duration
}

func measure(ctx context.Context, t *target, backendPID int, l load) (sample, error) {
	proxy0, backend0 := cpuTime(t.proxyPIDs...), cpuTime(backendPID)
	r, err := runWrk(ctx, t.url, l)
	if err != nil {
		return sample{}, err
	}
	proxy1, backend1 := cpuTime(t.proxyPIDs...), cpuTime(backendPID)
	if r.requests == 0 {
		return sample{}, fmt.Errorf("%s: no request completed in %s", t.name, l.duration)
	}
	if r.non2xx > 0 {
		return sample{}, fmt.Errorf("%s: %d of %d responses were not 2xx/3xx", t.name, r.non2xx, r.requests)
	}
	if r.socketErrors > 0 {
		fmt.Fprintf(os.Stderr, "warning: %s: %d socket errors in this run\n", t.name, r.socketErrors)
	}
	n := time.Duration(r.requests)
	return sample{wrkResult: r, proxyCPU: (proxy1 - proxy0) / n, backendCPU: (backend1 - backend0) / n}, nil
}
