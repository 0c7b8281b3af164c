package sshx

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backoff bounds WaitForSSH: the first pause between attempts, the longest
// one (pauses double up to it), and the total time to wait. Zero fields take
// the defaults 500ms, 10s and 5m.
type Backoff struct {
	Initial  time.Duration
	Max      time.Duration
	Deadline time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Deadline <= 0 {
		b.Deadline = 5 * time.Minute
	}
	return b
}

// WaitForSSH dials until the host lets us in, pausing with back-off between
// attempts, for a booting server. When it gives up (Deadline passed or ctx
// ended) its error gives the last real reason and how long it persisted,
// such as "connection refused by 10.0.0.5:22 (is sshd running?) for 45s",
// and wraps that reason's sentinel. A host key mismatch is not retried: it
// will not go away by waiting.
func WaitForSSH(ctx context.Context, cfg Config, b Backoff) (*Client, error) {
	if cfg.Signer == nil || cfg.HostKeyCallback == nil {
		// A mistake of the caller's: waiting would not mend it.
		return nil, errors.New("ssh: a signer and a host key callback are required")
	}
	b = b.withDefaults()
	start := time.Now()
	deadline := start.Add(b.Deadline)
	pause := b.Initial
	var (
		last      error
		lastSince time.Time
		attempts  int
	)
	for {
		// Each attempt gets at least 2s, or one cut short by the deadline
		// would report a timeout of our own making instead of the reason.
		attempt := cfg
		if remaining := time.Until(deadline); attempt.Timeout == 0 || attempt.Timeout > remaining {
			attempt.Timeout = max(remaining, 2*time.Second)
		}
		attempts++
		c, err := Dial(ctx, attempt)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrHostKeyMismatch) {
			return nil, err
		}
		if last == nil || reasonOf(last) != reasonOf(err) {
			lastSince = time.Now()
		}
		last = err

		now := time.Now()
		if ctx.Err() != nil || !now.Before(deadline) {
			return nil, giveUp(cfg.Addr, now.Sub(start), attempts, last, now.Sub(lastSince), ctx.Err())
		}
		wait := min(pause, time.Until(deadline))
		pause = min(2*pause, b.Max)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, giveUp(cfg.Addr, time.Since(start), attempts, last, time.Since(lastSince), ctx.Err())
		case <-t.C:
		}
	}
}

// reasonOf groups errors by cause, so "for 45s" covers consecutive failures
// of one kind only.
func reasonOf(err error) error {
	for _, s := range []error{ErrConnectionRefused, ErrNoRoute, ErrTimeout, ErrAuthFailed} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

func giveUp(addr string, waited time.Duration, attempts int, last error, lastFor time.Duration, ctxErr error) error {
	why := fmt.Sprintf("gave up after %s and %d attempts", waited.Round(time.Second), attempts)
	if ctxErr != nil {
		why = fmt.Sprintf("stopped (%v) after %s and %d attempts", ctxErr, waited.Round(time.Second), attempts)
	}
	return fmt.Errorf("wait for ssh on %s: %s: %w for %s", addr, why, last, lastFor.Round(time.Second))
}
