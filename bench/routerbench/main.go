// Command routerbench compares, in one run on loopback, a small HTTP backend
// reached directly, through prosper's router (internal/router) without and with
// 100% traffic mirroring, and through nginx, HAProxy, Caddy and Traefik as
// reverse proxies.
//
// It measures in two phases. Saturation: wrk drives each target as fast as it
// answers for a fixed time, the targets take turns, and the medians of
// requests/s, p50 and p99 are printed with ratios. Paced: a fixed-rate load
// generator (pace.go) drives each proxy at half of its saturated requests/s, and
// the direct path at the same rate, for the p99 each proxy adds at a load it
// carries comfortably; the mirroring router runs at the rate of the router
// without mirroring, for the p99 that mirroring and comparison cost the live path.
//
// The backends and the routers run as child processes (this binary re-executed),
// the peers as foreground children with generated configs; all of them are killed
// by pid at the end. Run it with bench/router, which installs the peers and wrk
// if they are missing.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	load
	runs    int
	warmup  time.Duration
	workers int
	// paced: runs of each paced measurement and their length.
	pacedRuns     int
	pacedDuration time.Duration
	// mirrorShares are the shares of the router's saturated req/s the
	// router is paced at with and without mirroring.
	mirrorShares []float64
	peers        []string
	traefik      string
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
	var peers, mirrorShares string
	flag.IntVar(&o.runs, "runs", 3, "measured wrk runs of each target at saturation, interleaved")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one wrk run (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run of each target first (0 for none)")
	flag.IntVar(&o.connections, "connections", 16, "connections of wrk and of the paced load")
	flag.IntVar(&o.threads, "threads", runtime.NumCPU(), "wrk threads (default: one per core)")
	// The number of cores is the router's budget: GOMAXPROCS defaults to it.
	flag.IntVar(&o.workers, "workers", runtime.NumCPU(), "nginx worker processes, HAProxy threads, GOMAXPROCS of the Go proxies")
	flag.IntVar(&o.pacedRuns, "paced-runs", 3, "runs of each paced measurement, interleaved (0 skips the paced phase)")
	flag.DurationVar(&o.pacedDuration, "paced-duration", 4*time.Second, "length of one paced run")
	flag.StringVar(&mirrorShares, "mirror-shares", "0.5,0.25,0.1", "shares of the router's saturated req/s to compare mirroring off and on at")
	flag.StringVar(&peers, "peers", "nginx,haproxy,caddy,traefik", "peer proxies to compare with; a missing one is skipped")
	flag.StringVar(&o.traefik, "traefik", "", "path of a traefik binary (default: traefik in PATH)")
	flag.Parse()
	o.peers = splitList(peers)
	for _, f := range splitList(mirrorShares) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v > 1 {
			fmt.Fprintf(os.Stderr, "error: -mirror-shares: %q is not a share in (0, 1]\n", f)
			os.Exit(2)
		}
		o.mirrorShares = append(o.mirrorShares, v)
	}
	if o.runs < 1 || o.duration < time.Second || o.connections < o.threads || o.threads < 1 || o.workers < 1 ||
		o.pacedRuns < 0 || (o.pacedRuns > 0 && o.pacedDuration < time.Second) {
		fmt.Fprintln(os.Stderr, "error: want -runs >= 1, -duration >= 1s, -threads >= 1, -connections >= -threads, -workers >= 1, -paced-runs >= 0 and -paced-duration >= 1s")
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
	// stats is the mirroring router's statistics address; empty for the others.
	stats string
}

// Names of the targets that are not peers.
const (
	nameDirect = "direct"
	nameRouter = "router"
	nameMirror = "router+mirror"
)

// budget bounds the whole run: setup, warm-ups, both phases and a margin.
func budget(o options, targets int) time.Duration {
	perRun := o.duration + 3*time.Second
	jobs := 2*targets + 2*len(o.mirrorShares)
	paced := time.Duration(o.pacedRuns*jobs) * (o.pacedDuration + 3*time.Second)
	return time.Minute + time.Duration(targets*o.runs)*perRun + time.Duration(targets)*(o.warmup+3*time.Second) + paced
}

func run(ctx context.Context, o options) error {
	env, err := startTargets(ctx, o)
	if env != nil {
		defer env.stop()
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, budget(o, len(env.targets)))
	defer cancel()
	for _, t := range env.targets {
		if err := verify(ctx, t); err != nil {
			return err
		}
	}
	if err := verifyMirror(ctx, env.mirror); err != nil {
		return err
	}

	printSetup(os.Stdout, o, env)
	if o.warmup > 0 {
		fmt.Printf("\nwarm-up: %s per target, not counted\n", o.warmup)
		for _, t := range env.targets {
			if _, err := runWrk(ctx, t.url, load{o.threads, o.connections, o.warmup}); err != nil {
				return err
			}
		}
	}

	sat, err := saturate(ctx, o, env)
	if err != nil {
		return err
	}
	sums := make(map[string]summary, len(sat))
	for name, s := range sat {
		sums[name] = summarize(s)
	}
	printSaturation(os.Stdout, o.runs, env.targets, sums)

	if o.pacedRuns > 0 {
		jobs := pacedJobs(env.targets, sums, o.mirrorShares)
		res, acct, err := pace(ctx, o, env, jobs)
		if err != nil {
			return err
		}
		printPaced(os.Stdout, o, jobs, res)
		printMirror(os.Stdout, jobs, res, acct)
	}
	printMemory(os.Stdout, env)
	if err := env.printDiffExamples(ctx, os.Stdout); err != nil {
		return err
	}
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
	req.Header.Set(checkHeader, "1")
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

func direct(*http.Response) error { return nil }

// sample is one measured wrk run of one target.
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

// saturate runs wrk on every target o.runs times, the order rotating so that no
// target always runs first or last, after the same neighbour.
func saturate(ctx context.Context, o options, env *benchEnv) (map[string][]sample, error) {
	results := make(map[string][]sample)
	fmt.Printf("\nsaturation (wrk)\n%-4s %-14s %10s %9s %9s %12s %12s\n", "run", "target", "req/s", "p50", "p99", "proxy CPU", "backend CPU")
	for i := range o.runs {
		for j := range env.targets {
			t := env.targets[(i+j)%len(env.targets)]
			before, err := env.mirrorReading(ctx, t)
			if err != nil {
				return nil, err
			}
			s, err := measure(ctx, t, env.backend.pid(), o.load)
			if err != nil {
				return nil, err
			}
			if err := env.account(ctx, t, before, &env.satMirror, s.requests); err != nil {
				return nil, err
			}
			results[t.name] = append(results[t.name], s)
			fmt.Printf("%-4d %-14s %10.0f %9s %9s %12s %12s\n", i+1, t.name, s.reqPerSec,
				fmtLatency(s.p50), fmtLatency(s.p99), fmtCPU(s.proxyCPU, len(t.proxyPIDs) > 0), fmtCPU(s.backendCPU, true))
		}
	}
	return results, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
