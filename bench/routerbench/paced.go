package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// pacedJob is one paced measurement: a target driven at a fixed rate.
type pacedJob struct {
	target *target
	// ref names the proxy whose saturated req/s set the rate: the target
	// itself, the proxy a direct run is the baseline of, or the router for the
	// mirroring router.
	ref string
	// share is the share of ref's saturated req/s the rate is.
	share float64
	rate  float64
}

// pacedShare is the share of its saturated req/s each proxy is paced at.
const pacedShare = 0.5

// pacedJobs lists the paced measurements: each proxy at pacedShare of its
// saturated req/s and the direct path at the same rate, for the latency the
// proxy adds; then, for each of mirrorShares, the router with and without
// mirroring at that share of the router's saturated req/s, for what mirroring
// costs the live path at the same load. A rate under 1/s is left out.
func pacedJobs(targets []*target, sums map[string]summary, mirrorShares []float64) []pacedJob {
	byName := make(map[string]*target, len(targets))
	for _, t := range targets {
		byName[t.name] = t
	}
	dir, rt, mirror := byName[nameDirect], byName[nameRouter], byName[nameMirror]
	var jobs []pacedJob
	for _, t := range targets {
		if t == dir || t == mirror {
			continue
		}
		rate := math.Round(sums[t.name].reqPerSec * pacedShare)
		if rate < 1 {
			continue
		}
		jobs = append(jobs, pacedJob{target: t, ref: t.name, share: pacedShare, rate: rate})
		if dir != nil {
			jobs = append(jobs, pacedJob{target: dir, ref: t.name, share: pacedShare, rate: rate})
		}
	}
	if rt == nil || mirror == nil {
		return jobs
	}
	for _, share := range mirrorShares {
		rate := math.Round(sums[nameRouter].reqPerSec * share)
		if rate < 1 {
			continue
		}
		if share != pacedShare {
			jobs = append(jobs, pacedJob{target: rt, ref: nameRouter, share: share, rate: rate})
		}
		jobs = append(jobs, pacedJob{target: mirror, ref: nameRouter, share: share, rate: rate})
	}
	return jobs
}

// pace runs every job o.pacedRuns times, the order rotating as in the
// saturation phase, and returns each job's results, in the order of jobs, and
// the mirroring router's account over its paced runs.
func pace(ctx context.Context, o options, env *benchEnv, jobs []pacedJob) ([][]pacedResult, mirrorAccount, error) {
	res := make([][]pacedResult, len(jobs))
	fmt.Printf("\npaced at a share of a proxy's saturated req/s (%d connections, latency from when each request was due)\n", o.connections)
	fmt.Printf("%-4s %-14s %-14s %9s %9s %9s %9s\n", "run", "target", "share of", "rate", "answered", "p50", "p99")
	for i := range o.pacedRuns {
		for j := range jobs {
			k := (i + j) % len(jobs)
			job := jobs[k]
			before, err := env.mirrorReading(ctx, job.target)
			if err != nil {
				return nil, mirrorAccount{}, err
			}
			r, err := runPaced(ctx, job.target.url, pacedLoad{rate: job.rate, connections: o.connections, duration: o.pacedDuration})
			if err != nil {
				return nil, mirrorAccount{}, fmt.Errorf("%s: %w", job.target.name, err)
			}
			if err := env.account(ctx, job.target, before, &env.paMirror, r.requests); err != nil {
				return nil, mirrorAccount{}, err
			}
			if r.errors > 0 {
				fmt.Fprintf(os.Stderr, "warning: %s at %.0f req/s: %d failed requests\n", job.target.name, job.rate, r.errors)
			}
			res[k] = append(res[k], r)
			fmt.Printf("%-4d %-14s %-14s %9.0f %9.0f %9s %9s\n", i+1, job.target.name, fmt.Sprintf("%.0f%% %s", job.share*100, job.ref), job.rate, r.rate,
				fmtLatency(r.p50), fmtLatency(r.p99))
		}
	}
	return res, env.paMirror, nil
}

// pacedSummary is the medians of one job's runs, and its lowest p99: on a
// shared machine other work only ever adds latency, so the least disturbed run
// is the closest to what the target itself costs.
type pacedSummary struct {
	rate     float64 // answered per second
	p50, p99 time.Duration
	bestP99  time.Duration
	errors   int64 // over all runs
}

func summarizePaced(rs []pacedResult) pacedSummary {
	rate, p50, p99 := make([]float64, len(rs)), make([]float64, len(rs)), make([]float64, len(rs))
	var s pacedSummary
	for i, r := range rs {
		rate[i], p50[i], p99[i] = r.rate, float64(r.p50), float64(r.p99)
		s.errors += r.errors
	}
	s.rate, s.p50, s.p99 = median(rate), time.Duration(median(p50)), time.Duration(median(p99))
	if len(p99) > 0 {
		s.bestP99 = time.Duration(slices.Min(p99))
	}
	return s
}
