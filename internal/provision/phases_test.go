package provision

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunnerDryRunChangesNothing(t *testing.T) {
	var ran atomic.Int32
	phases := []Phase{
		{Name: "keys", Plan: func(context.Context) ([]string, error) { return []string{"upload SSH key acme-prod"}, nil },
			Run: func(context.Context, *Progress) error { ran.Add(1); return nil }},
		{Name: "network", Plan: func(context.Context) ([]string, error) { return nil, nil },
			Run: func(context.Context, *Progress) error { ran.Add(1); return nil }},
	}
	var out bytes.Buffer
	if err := (&Runner{Out: &out, DryRun: true}).Run(context.Background(), phases); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 0 {
		t.Fatal("a dry run ran a phase")
	}
	for _, want := range []string{"==> [1/2] keys", "would upload SSH key acme-prod", "==> [2/2] network", "nothing to do"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunnerStopsAtTheFailingPhase(t *testing.T) {
	var later atomic.Bool
	boom := errors.New("server create failed: resource_limit_exceeded")
	clock := time.Unix(0, 0)
	phases := []Phase{
		{Name: "servers", Run: func(_ context.Context, p *Progress) error {
			p.Node("acme-cp-1", "created")
			clock = clock.Add(1500 * time.Millisecond)
			return boom
		}},
		{Name: "wait-ssh", Run: func(context.Context, *Progress) error { later.Store(true); return nil }},
	}
	var out bytes.Buffer
	err := (&Runner{Out: &out, Now: func() time.Time { return clock }}).Run(context.Background(), phases)
	if !errors.Is(err, ErrPhase) || !errors.Is(err, boom) || !strings.Contains(err.Error(), "servers") {
		t.Fatalf("err = %v", err)
	}
	if later.Load() {
		t.Fatal("a phase ran after a failed one")
	}
	if !strings.Contains(out.String(), "acme-cp-1") || !strings.Contains(out.String(), "FAILED after 1.5s") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestParallelBoundsAndJoinsFailures(t *testing.T) {
	var inFlight, most atomic.Int32
	var out bytes.Buffer
	p := &Progress{out: &out}
	nodes := []string{"w1", "w2", "w3", "w4", "w5", "w6"}
	err := Parallel(context.Background(), p, nodes, 2, func(_ context.Context, n string) error {
		cur := inFlight.Add(1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		inFlight.Add(-1)
		if n == "w3" || n == "w5" {
			return errors.New("ssh: connection refused")
		}
		return nil
	})
	if most.Load() > 2 {
		t.Errorf("%d nodes at once, limit 2", most.Load())
	}
	if err == nil || !strings.Contains(err.Error(), "w3: ssh: connection refused") || !strings.Contains(err.Error(), "w5:") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "w3") {
		t.Errorf("failures not reported per node:\n%s", out.String())
	}
}
