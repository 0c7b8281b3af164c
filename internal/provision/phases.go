// Package provision creates, scales and deletes the k3s clusters prosper runs
// on: machines from a provider (Hetzner Cloud, or any SSH-reachable hosts), k3s
// installed over SSH, then the platform on top.
//
// The work is a list of named phases run in order (k0sctl's phase manager is the
// model): each phase says first what it would do (the dry run shows exactly
// that and changes nothing), then does it. Every phase is idempotent: a create
// that failed half way is run again and converges, with no duplicates.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Phase is one named step of a cluster operation.
type Phase struct {
	// Name is short and stable: "keys", "network", "servers", "wait-ssh" ...
	Name string
	// Plan says what Run would do, one line per action, without changing
	// anything. No line means there is nothing to do: Run is skipped.
	Plan func(ctx context.Context) ([]string, error)
	// Run does it, reporting progress per node through p.
	Run func(ctx context.Context, p *Progress) error
}

// Runner runs phases in order and shows their progress as a person expects it
// in a terminal: one header per phase, a line per node event, the time taken.
type Runner struct {
	Out    io.Writer
	DryRun bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrPhase wraps the error of the phase that failed, so a caller can tell a
// phase failure from a cancelled run.
var ErrPhase = errors.New("phase failed")

// Run runs the phases. In a dry run it prints each phase's plan and runs
// nothing. It stops at the first failing phase with an error naming it.
func (r *Runner) Run(ctx context.Context, phases []Phase) error {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	for i, ph := range phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		var plan []string
		if ph.Plan != nil {
			var err error
			if plan, err = ph.Plan(ctx); err != nil {
				return fmt.Errorf("%w: %s: plan: %w", ErrPhase, ph.Name, err)
			}
		}
		fmt.Fprintf(r.Out, "==> [%d/%d] %s\n", i+1, len(phases), ph.Name)
		if len(plan) == 0 && ph.Plan != nil {
			fmt.Fprintln(r.Out, "    nothing to do")
			continue
		}
		for _, line := range plan {
			fmt.Fprintf(r.Out, "    %s %s\n", map[bool]string{true: "would", false: "-"}[r.DryRun], line)
		}
		if r.DryRun || ph.Run == nil {
			continue
		}
		started := now()
		p := &Progress{out: r.Out}
		if err := ph.Run(ctx, p); err != nil {
			fmt.Fprintf(r.Out, "    FAILED after %s: %v\n", now().Sub(started).Round(100*time.Millisecond), err)
			return fmt.Errorf("%w: %s: %w", ErrPhase, ph.Name, err)
		}
		fmt.Fprintf(r.Out, "    done in %s\n", now().Sub(started).Round(100*time.Millisecond))
	}
	return nil
}

// Progress reports what happens to each node during a phase. It is safe for
// concurrent use: workers are installed in parallel.
type Progress struct {
	mu  sync.Mutex
	out io.Writer
}

// Node writes one event of one node.
func (p *Progress) Node(node, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "    %-24s %s\n", node, fmt.Sprintf(format, args...))
}

// Parallel runs fn for every node with at most limit at a time, reports each
// node's failure, and returns all failures joined once every node is done.
func Parallel(ctx context.Context, p *Progress, nodes []string, limit int, fn func(ctx context.Context, node string) error) error {
	if limit <= 0 {
		limit = len(nodes)
	}
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, n := range nodes {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", n, ctx.Err()))
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			if err := fn(ctx, n); err != nil {
				p.Node(n, "failed: %v", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", n, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	return nodeErrors(errs)
}

// nodeErrors are the failures of several nodes, on one line so that the CLI's
// "error: ..." stays one line; errors.Is and As see each of them.
type nodeErrors []error

func (e nodeErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e nodeErrors) Unwrap() []error { return e }
