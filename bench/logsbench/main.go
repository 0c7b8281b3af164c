// Command logsbench times the node's log store: ingest of the lines a real
// process writes, through the supervisor, and search over them. See bench/logs.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

const (
	rareTerm   = "Needle-7f3a" // in about 10 lines
	commonTerm = "checkout"    // in about one line in five
	absentTerm = "deadlock"    // in none: the whole store is read
)

func main() {
	gen := flag.Int("gen", 0, "internal: write this many lines to stdout and exit")
	lines := flag.Int("lines", 1_000_000, "lines to ingest")
	runs := flag.Int("runs", 20, "searches per term (p50 and p95 are printed)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the searches to this file")
	flag.Parse()
	cpuProfile = *profile
	if *gen > 0 {
		if err := generate(os.Stdout, *gen); err != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(*lines, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "logsbench:", err)
		os.Exit(1)
	}
}

// generate writes n log lines: most plain, some JSON, a few with the rare term.
func generate(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	r := rand.New(rand.NewPCG(1, 1))
	rare := map[int]bool{}
	for len(rare) < 10 {
		rare[r.IntN(n)] = true
	}
	paths := []string{"/", "/products", "/cart", "/" + commonTerm, "/account"}
	for i := range n {
		id := r.Uint64()
		switch {
		case rare[i]:
			fmt.Fprintf(bw, "ERROR payment %x failed: %s gateway answered 502 after 3 retries (request %d)\n", id, rareTerm, i)
		case i%3 == 0:
			fmt.Fprintf(bw, `{"level":"info","msg":"request served","method":"GET","path":"%s","status":200,"ms":%d,"request_id":"%x","user":%d}`+"\n",
				paths[r.IntN(len(paths))], r.IntN(900), id, r.IntN(100000))
		default:
			fmt.Fprintf(bw, "2026-11-26T01:02:03Z INFO http: GET %s 200 %dms request_id=%x remote=10.0.%d.%d agent=\"Mozilla/5.0\"\n",
				paths[r.IntN(len(paths))], r.IntN(900), id, r.IntN(255), r.IntN(255))
		}
	}
	return bw.Flush()
}

var cpuProfile string

func run(n, runs int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "logsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sup, err := node.NewSupervisor(node.SupervisorConfig{
		DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StopTimeout: time.Second,
		LogMaxBytes: 64 << 20, LogKeep: 16,
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	defer sup.Close(ctx)

	// Ingest: from starting the writer to its exit being recorded, which the
	// supervisor does once it has stored every line the process wrote.
	spec := runtime.Spec{ID: "bench-v1", App: "bench", Release: 1, Artifact: dir,
		Command: "exec " + strconv.Quote(exe) + " -gen " + strconv.Itoa(n)}
	start := time.Now()
	if err := sup.Start(ctx, spec); err != nil {
		return err
	}
	var ended time.Time
	for ended.IsZero() {
		time.Sleep(2 * time.Millisecond)
		crashes, err := sup.Crashes(ctx, "bench", 0)
		if err != nil {
			return err
		}
		if len(crashes) > 0 {
			ended = crashes[0].Time
			if crashes[0].ExitCode != 0 {
				return fmt.Errorf("the writer failed: %s", crashes[0].Reason)
			}
		}
	}
	// Stop it before its restart writes the lines again.
	if err := sup.Stop(ctx, spec.ID); err != nil {
		return err
	}
	ingest := ended.Sub(start)
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "bench.log*"))
	var bytes int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			bytes += fi.Size()
		}
	}
	fmt.Printf("ingest: %d lines in %v through a process's stdout: %.0f lines/s (%d files, %.0f MiB stored)\n",
		n, ingest.Round(time.Millisecond), float64(n)/ingest.Seconds(), len(files), float64(bytes)/(1<<20))

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, term := range []string{rareTerm, commonTerm, absentTerm} {
		var found int
		var took, cpu []time.Duration
		for range runs {
			c0 := cpuTime()
			t0 := time.Now()
			got, err := sup.SearchLogs(ctx, node.LogSearch{App: "bench", Grep: term})
			if err != nil {
				return err
			}
			took = append(took, time.Since(t0))
			cpu = append(cpu, cpuTime()-c0)
			found = len(got)
		}
		var grepTook []time.Duration
		for range min(runs, 5) {
			t0 := time.Now()
			// grep exits 1 when nothing matches; only 2 is an error.
			err := exec.Command("grep", append([]string{"-ci", "--", term}, files...)...).Run()
			if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
				return fmt.Errorf("grep: %w", err)
			}
			grepTook = append(grepTook, time.Since(t0))
		}
		p50, p95 := pct(took, 50), pct(took, 95)
		g := pct(grepTook, 50)
		fmt.Printf("search %-12q: %4d lines (limit 1000), p50 %v p95 %v (CPU p50 %v) over %d runs; grep -ci on the same files p50 %v; ratio p50/grep %.2f\n",
			term, found, p50.Round(10*time.Microsecond), p95.Round(10*time.Microsecond), pct(cpu, 50).Round(10*time.Microsecond),
			runs, g.Round(10*time.Microsecond), p50.Seconds()/g.Seconds())
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used: a figure
// that, unlike wall time, does not grow when other programs take the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, i-1)]
}
