package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
)

// do runs one API call: it waits while the project is rate limited, waits
// out a 429 until the reset the RateLimit headers give (reporting it as
// subject's event), retries transient errors with back-off, and turns
// permanent errors into a message that says what to change.
func (pr *Provider) do(ctx context.Context, p *provision.Progress, subject string, fn func() (*hcloud.Response, error)) error {
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := pr.waitPause(ctx); err != nil {
			return err
		}
		resp, err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case hcloud.IsError(err, hcloud.ErrorCodeRateLimitExceeded):
			wait := pr.pauseFor(resp)
			report(p, subject, "rate limited by the Hetzner API: waiting %s for the limit to reset", wait.Round(100*time.Millisecond))
			attempt = 0 // rate limiting never uses up the retries
			continue
		case transient(err) && attempt < pr.opts.Retries:
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(backoff*2, pr.opts.MaxBackoff)
			continue
		}
		return explain(err)
	}
}

// pauseFor holds every call back until the rate limit resets, as far as the
// headers of resp tell, within [PollInterval, MaxBackoff], and returns the
// wait.
func (pr *Provider) pauseFor(resp *hcloud.Response) time.Duration {
	wait := pr.opts.PollInterval
	if resp != nil && !resp.Meta.Ratelimit.Reset.IsZero() {
		wait = time.Until(resp.Meta.Ratelimit.Reset)
	}
	wait = min(max(wait, pr.opts.PollInterval), pr.opts.MaxBackoff)
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if until := time.Now().Add(wait); until.After(pr.pausedUntil) {
		pr.pausedUntil = until
	}
	return wait
}

func (pr *Provider) waitPause(ctx context.Context) error {
	pr.mu.Lock()
	d := time.Until(pr.pausedUntil)
	pr.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports whether a call may succeed when tried again.
func transient(err error) bool {
	if hcloud.IsError(err,
		hcloud.ErrorCodeConflict, hcloud.ErrorCodeLocked, hcloud.ErrorCodeServerError,
		hcloud.ErrorCodeServiceError, hcloud.ErrorCodeBadGateway, hcloud.ErrorCodeTimeout,
		hcloud.ErrorCodeMaintenance, hcloud.ErrorCodeResourceUnavailable, hcloud.ErrorCodeUnknownError,
		hcloud.ErrorCode("unavailable")) {
		return true
	}
	if errors.Is(err, hcloud.ErrStatusCode) {
		return true // a 5xx without an API error body
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// explain adds what to change to a permanent API error.
func explain(err error) error {
	var apiErr hcloud.Error
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.Code {
	case hcloud.ErrorCodeUnauthorized:
		return fmt.Errorf("%w: HCLOUD_TOKEN is not a valid token of the project", err)
	case hcloud.ErrorCodeForbidden:
		return fmt.Errorf("%w: the token is read-only; create a read & write token", err)
	case hcloud.ErrorCodeResourceLimitExceeded:
		return fmt.Errorf("%w: the project's limit is reached; ask Hetzner to raise it (Console, Limits) or use fewer or smaller servers", err)
	case hcloud.ErrorCodePlacementError:
		return fmt.Errorf("%w: Hetzner cannot place the server in that location now; add another location to spec.provider.hetzner.locations or try later", err)
	case hcloud.ErrorCodeInvalidInput:
		if d, ok := apiErr.Details.(hcloud.ErrorDetailsInvalidInput); ok && len(d.Fields) > 0 {
			return fmt.Errorf("%w: %s: %v; check the server type, location and image in the cluster file", err, d.Fields[0].Name, d.Fields[0].Messages)
		}
		return fmt.Errorf("%w: check the server type, location and image in the cluster file", err)
	}
	return err
}
