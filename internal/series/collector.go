package series

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
)

// NodeReader is what the collector reads from the node: the router's counters,
// its latency quantiles of each step, and the processes' usage.
type NodeReader interface {
	Metrics(ctx context.Context) ([]router.ReleaseMetrics, error)
	// TakeIntervalLatency returns the quantiles since the previous call and
	// starts a new interval; the collector is its one caller.
	TakeIntervalLatency(ctx context.Context) ([]router.IntervalLatency, error)
	ProcStats(ctx context.Context) ([]node.ProcStats, error)
}

// BotReader is what the collector reads of the bot journeys.
type BotReader interface {
	BotSummaries(ctx context.Context, q store.BotRunQuery) ([]store.BotSummary, error)
}

// DefaultEvery is the collector's step, the finest resolution.
const DefaultEvery = 10 * time.Second

// pruneEvery is how often the collector drops buckets past their retention.
const pruneEvery = 10 * time.Minute

// Collector turns the node's cumulative readings into one sample per metric,
// release and step. The router and /proc give totals since some start, so a
// step's figure is the difference with the previous reading: the first reading
// of a release, and one after a total went down (the node or a process
// restarted), give no rate for that step rather than a wrong one. Latency
// quantiles cannot be differenced, so the router keeps an interval per release
// that the collector takes each step.
type Collector struct {
	Store  *Store
	Node   NodeReader
	Bots   BotReader // nil: no bot figures
	Every  time.Duration
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	last     time.Time
	requests map[releaseKey]router.ReleaseMetrics
	procs    map[releaseKey]node.ProcStats
	// took says the previous step took the router's interval, so the one
	// taken now covers this step only.
	took bool
}

type releaseKey struct {
	app     string
	release int
}

// Run collects every Every until ctx ends, and prunes old buckets now and then.
func (c *Collector) Run(ctx context.Context) {
	every := c.Every
	if every <= 0 {
		every = DefaultEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.logger().Warn("collect metrics", "err", err)
		}
		if time.Since(lastPrune) > pruneEvery {
			lastPrune = time.Now()
			if _, err := c.Store.Prune(ctx); err != nil && ctx.Err() == nil {
				c.logger().Warn("prune metrics", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *Collector) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Collect reads the node and the bot runs once and stores the step since the
// previous call. Not safe for concurrent use: Run calls it from one goroutine.
func (c *Collector) Collect(ctx context.Context) error {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	metrics, err := c.Node.Metrics(ctx)
	if err != nil {
		return fmt.Errorf("read router metrics: %w", err)
	}
	procs, err := c.Node.ProcStats(ctx)
	if err != nil {
		return fmt.Errorf("read process stats: %w", err)
	}
	perRelease := sumProcs(procs)
	// Taken last, after the reads that can fail, so a failed step does not
	// throw an interval away. A node that cannot answer it (one of an older
	// prosper adopted at start) costs the quantiles only.
	latency, err := c.Node.TakeIntervalLatency(ctx)
	if err != nil && ctx.Err() == nil {
		c.logger().Warn("read latency of the step", "err", err)
	}
	tookBefore := c.took
	c.took = err == nil
	var samples []Sample
	if !c.last.IsZero() {
		dt := now.Sub(c.last).Seconds()
		samples = append(samples, c.routerSamples(metrics, perRelease, dt, now)...)
		if tookBefore && c.took {
			samples = append(samples, latencySamples(latency, now)...)
		}
		samples = append(samples, c.procSamples(perRelease, dt, now)...)
		bots, err := c.botSamples(ctx, c.last, now)
		if err != nil {
			return err
		}
		samples = append(samples, bots...)
	}
	c.last = now
	c.requests = make(map[releaseKey]router.ReleaseMetrics, len(metrics))
	for _, m := range metrics {
		c.requests[releaseKey{m.App, m.Release}] = m
	}
	c.procs = perRelease
	return c.Store.Add(ctx, samples)
}

// sumProcs adds up the workloads of one release (a release may run as more
// than one workload, such as the control instance of mirror production).
func sumProcs(procs []node.ProcStats) map[releaseKey]node.ProcStats {
	out := make(map[releaseKey]node.ProcStats, len(procs))
	for _, p := range procs {
		k := releaseKey{p.App, p.Release}
		s := out[k]
		s.App, s.Release = p.App, p.Release
		s.Processes += p.Processes
		s.CPUSeconds += p.CPUSeconds
		s.RSSBytes += p.RSSBytes
		s.Restarts += p.Restarts
		out[k] = s
	}
	return out
}

// routerSamples gives rps and error_rate of the releases that run or were
// answered for in the step.
func (c *Collector) routerSamples(metrics []router.ReleaseMetrics, running map[releaseKey]node.ProcStats, dt float64, now time.Time) []Sample {
	var out []Sample
	for _, m := range metrics {
		k := releaseKey{m.App, m.Release}
		prev, ok := c.requests[k]
		if !ok || m.Requests < prev.Requests || dt <= 0 {
			continue
		}
		n := m.Requests - prev.Requests
		if _, runs := running[k]; !runs && n == 0 {
			// A release the router remembers but nothing runs any more.
			continue
		}
		add := func(metric string, v float64) {
			out = append(out, Sample{App: m.App, Release: m.Release, Metric: metric, Time: now, Value: v})
		}
		add(RPS, float64(n)/dt)
		if n > 0 {
			add(ErrorRate, float64(m.Status5xx-prev.Status5xx)/float64(n))
		}
	}
	return out
}

// latencySamples gives p50_ms, p95_ms and p99_ms of the step's requests, for
// the releases that had any.
func latencySamples(latency []router.IntervalLatency, now time.Time) []Sample {
	var out []Sample
	for _, l := range latency {
		if l.Count == 0 {
			continue
		}
		for _, q := range []struct {
			metric string
			ms     float64
		}{{P50, l.P50}, {P95, l.P95}, {P99, l.P99}} {
			out = append(out, Sample{App: l.App, Release: l.Release, Metric: q.metric, Time: now, Value: q.ms})
		}
	}
	return out
}

// procSamples gives cpu_pct, mem_bytes and restarts of each running release.
func (c *Collector) procSamples(procs map[releaseKey]node.ProcStats, dt float64, now time.Time) []Sample {
	var out []Sample
	for k, p := range procs {
		add := func(metric string, v float64) {
			out = append(out, Sample{App: k.app, Release: k.release, Metric: metric, Time: now, Value: v})
		}
		if p.Processes > 0 {
			add(Memory, float64(p.RSSBytes))
		}
		prev, ok := c.procs[k]
		if !ok {
			continue
		}
		// A process that exited took its CPU time with it; the step is lost.
		if p.Processes > 0 && p.Processes == prev.Processes && p.CPUSeconds >= prev.CPUSeconds && dt > 0 {
			add(CPU, (p.CPUSeconds-prev.CPUSeconds)/dt*100)
		}
		if p.Restarts >= prev.Restarts {
			add(Restarts, float64(p.Restarts-prev.Restarts))
		}
	}
	return out
}

// botSamples counts the journeys that started in [from, to), per release.
// Steps without journeys have no bot figures. Runs are written in batches, so
// a run recorded after its step has been collected is not counted.
func (c *Collector) botSamples(ctx context.Context, from, to time.Time) ([]Sample, error) {
	if c.Bots == nil {
		return nil, nil
	}
	sums, err := c.Bots.BotSummaries(ctx, store.BotRunQuery{Since: from, Until: to})
	if err != nil {
		return nil, fmt.Errorf("read bot runs: %w", err)
	}
	type counts struct{ ok, failed int }
	per := map[releaseKey]counts{}
	for _, s := range sums {
		k := releaseKey{s.App, s.Release}
		c := per[k]
		c.ok += s.Runs - s.Failures
		c.failed += s.Failures
		per[k] = c
	}
	var out []Sample
	for k, n := range per {
		out = append(out,
			Sample{App: k.app, Release: k.release, Metric: BotsOK, Time: to, Value: float64(n.ok)},
			Sample{App: k.app, Release: k.release, Metric: BotsFailed, Time: to, Value: float64(n.failed)})
	}
	return out, nil
}
