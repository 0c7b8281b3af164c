// Command clusterapibench measures the API calls and the wall time of the
// Hetzner provider's Ensure against the hcloud simulator with realistic
// latencies. See bench/cluster-api.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/hetzner"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "clusterapibench:", err)
		os.Exit(1)
	}
}

type config struct {
	boot, poll, latMin, latMax time.Duration
	scale                      float64
	parallel                   int
}

// result is one run of Ensure.
type result struct {
	wall  time.Duration
	calls map[string]int
}

func run() error {
	nodesFlag := flag.String("nodes", "3,20,500", "cluster sizes (3 control planes, the rest workers)")
	runs := flag.Int("runs", 3, "runs per size (medians are printed)")
	scale := flag.Float64("scale", 10, "time scale-down of the boot and the poll interval")
	boot := flag.Duration("boot", 30*time.Second, "real server boot time")
	poll := flag.Duration("poll", time.Second, "real action poll interval")
	latMin := flag.Duration("latency-min", 50*time.Millisecond, "shortest API call")
	latMax := flag.Duration("latency-max", 150*time.Millisecond, "longest API call")
	parallel := flag.Int("parallel", 0, "concurrent create calls (0: the provider's default)")
	flag.Parse()
	cfg := config{
		boot: time.Duration(float64(*boot) / *scale), poll: time.Duration(float64(*poll) / *scale),
		latMin: *latMin, latMax: *latMax, scale: *scale, parallel: *parallel,
	}
	fmt.Printf("simulated Hetzner API: %v-%v per call (not scaled), boot %v and poll %v scaled down %gx to %v and %v, rate limit 3600/h\n",
		*latMin, *latMax, *boot, *poll, *scale, cfg.boot, cfg.poll)
	for _, f := range strings.Split(*nodesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 3 {
			return fmt.Errorf("-nodes: %q is not a size of 3 or more", f)
		}
		var rs []result
		for range *runs {
			r, err := once(cfg, n)
			if err != nil {
				return fmt.Errorf("%d nodes: %w", n, err)
			}
			rs = append(rs, r)
		}
		report(n, cfg, rs)
	}
	return nil
}

// once creates a cluster of n nodes on a fresh simulated project.
func once(cfg config, n int) (result, error) {
	sim, err := hcloudsim.Start(hcloudsim.Options{
		Token: "bench", ActionDuration: cfg.poll, ServerBootDuration: cfg.boot,
		Latency: func(string) time.Duration {
			return cfg.latMin + time.Duration(rand.Int64N(int64(cfg.latMax-cfg.latMin)+1))
		},
	})
	if err != nil {
		return result{}, err
	}
	defer sim.Close()
	pr, err := hetzner.New(hetzner.Options{Token: "bench", Endpoint: sim.URL, PollInterval: cfg.poll, Parallel: cfg.parallel})
	if err != nil {
		return result{}, err
	}
	c := clusterfile.Default()
	c.Metadata.Name = "bench"
	c.Spec.Provider.Hetzner = &clusterfile.Hetzner{Locations: []string{"fsn1", "nbg1", "hel1"}, Image: clusterfile.DefaultImage}
	c.Spec.ControlPlane = clusterfile.ControlPlane{Count: 3, ServerType: "cpx21"}
	if n > 3 {
		c.Spec.Pools = []clusterfile.Pool{{Name: "workers", Count: n - 3, ServerType: "cx22"}}
	}
	c.Spec.Firewall = []clusterfile.Rule{{Port: "22", Sources: []string{"0.0.0.0/0"}}, {Port: "6443", Sources: []string{"0.0.0.0/0"}}}
	_, key, _, err := sshx.GenerateKey("bench")
	if err != nil {
		return result{}, err
	}
	var ms []provision.Machine
	r := provision.Runner{Out: io.Discard}
	start := time.Now()
	err = r.Run(context.Background(), []provision.Phase{{Name: "servers", Run: func(ctx context.Context, p *provision.Progress) error {
		var err error
		ms, err = pr.Ensure(ctx, c, c.Plan(), key, p)
		return err
	}}})
	wall := time.Since(start)
	if err != nil {
		return result{}, err
	}
	if len(ms) != n {
		return result{}, fmt.Errorf("%d machines, want %d", len(ms), n)
	}
	return result{wall: wall, calls: sim.Calls()}, nil
}

func report(n int, cfg config, rs []result) {
	walls := make([]time.Duration, len(rs))
	for i, r := range rs {
		walls[i] = r.wall
	}
	slices.Sort(walls)
	wall := walls[len(walls)/2]
	routes := map[string][]int{}
	var totals []int
	for _, r := range rs {
		t := 0
		for k, v := range r.calls {
			routes[k] = append(routes[k], v)
			t += v
		}
		totals = append(totals, t)
	}
	total := median(totals)
	actions := median(routes["GET /actions"])
	fmt.Printf("\n%d nodes (median of %d runs)\n", n, len(rs))
	keys := make([]string, 0, len(routes))
	for k := range routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := median(routes[k])
		fmt.Printf("  %-22s %5d calls  %6.3f per node\n", k, v, float64(v)/float64(n))
	}
	fmt.Printf("  calls per node besides GET /actions: %.2f (target <= 4)\n", float64(total-actions)/float64(n))
	fmt.Printf("  total calls: %d = %.1f%% of the 3,600/h limit\n", total, 100*float64(total)/3600)
	overhead := wall - cfg.boot
	fmt.Printf("  wall %v for a %v (scaled) boot: prosper's overhead %v; at real scale about %v for a %v boot\n",
		wall.Round(10*time.Millisecond), cfg.boot, overhead.Round(10*time.Millisecond),
		(time.Duration(float64(cfg.boot)*cfg.scale) + overhead).Round(100*time.Millisecond), time.Duration(float64(cfg.boot)*cfg.scale))
}

func median(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
