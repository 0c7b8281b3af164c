package rollout

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// split is a weighted share of an app's traffic between its live release and
// the release being promoted in steps.
type split struct {
	from, to int
	percent  float64 // share of to, 0..100
}

// stepMinRequests is how many requests a promotion step needs before its error
// rate is judged; with fewer the step is held longer, up to three windows.
const stepMinRequests = 20

// promoteInSteps gives the verified release rel (running on the live data)
// the shares of verify.steps in turn, each held for one window, watching its
// errors and crashes against the live release's on the same traffic split. It
// returns the reason to stop, or "" when every step passed; the caller then
// switches all traffic. The route is back on live alone when it returns.
func (m *Manager) promoteInSteps(ctx context.Context, rel, live store.Release, cfg appconfig.Config, out io.Writer) (string, error) {
	window := cfg.Verify.Window.Duration()
	if window <= 0 {
		window = m.opts.VerifyWindow
	}
	gates, err := verify.ParseGates(cfg.Verify.Gates)
	if err != nil {
		return "", err
	}
	defer func() {
		if err := m.setSplit(context.WithoutCancel(ctx), rel.App, nil); err != nil {
			m.log.Error("end promotion steps", "app", rel.App, "err", err)
		}
	}()
	id := WorkloadID(rel.App, rel.Version)
	st, err := m.workload(ctx, id)
	if err != nil {
		return "", err
	}
	baseRestarts := restarts(st)
	for _, p := range cfg.Verify.Steps {
		newBase, _, _ := m.releaseMetrics(ctx, rel.App, rel.Version, time.Time{})
		liveBase, _, _ := m.releaseMetrics(ctx, rel.App, live.Version, time.Time{})
		if err := m.setSplit(ctx, rel.App, &split{from: live.Version, to: rel.Version, percent: float64(p)}); err != nil {
			return "", fmt.Errorf("step %s: %w", p, err)
		}
		say(out, "-----> step: v%d takes %s of live traffic for %s", rel.Version, p, window)
		started := time.Now()
		for {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			if st, err := m.workload(ctx, id); err == nil && restarts(st) > baseRestarts {
				return fmt.Sprintf("step %s: v%d crashed while serving users: %s", p, rel.Version, CrashWords(st)), nil
			}
			cur, _, missing := m.releaseMetrics(ctx, rel.App, rel.Version, started)
			liveCur, _, _ := m.releaseMetrics(ctx, rel.App, live.Version, started)
			n := cur.Requests - newBase.Requests
			elapsed := time.Since(started)
			if elapsed < window || (n < stepMinRequests && elapsed < 3*window) {
				continue
			}
			if missing != "" {
				// Missing data is never a pass: the step waits, within its
				// longest wait, then stops.
				if elapsed < 3*window {
					continue
				}
				return fmt.Sprintf("step %s: the router figures of the step are incomplete: %s", p, missing), nil
			}
			rate := ratio(cur.Status5xx-newBase.Status5xx, n)
			liveRate := ratio(liveCur.Status5xx-liveBase.Status5xx, liveCur.Requests-liveBase.Requests)
			if n > 0 && rate > liveRate+gates.ErrorRate+1e-9 {
				return fmt.Sprintf("step %s: v%d answered %d of %d requests with a 5xx (%s) against v%d's %s; allowed +%s",
					p, rel.Version, cur.Status5xx-newBase.Status5xx, n, verify.Pct(rate), live.Version, verify.Pct(liveRate), verify.Pct(gates.ErrorRate)), nil
			}
			say(out, "-----> step %s passed: %d requests, errors %s (v%d: %s)", p, n, verify.Pct(rate), live.Version, verify.Pct(liveRate))
			break
		}
	}
	return "", nil
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// setSplit sets or clears (nil) the weighted split of the app's route and
// pushes the table.
func (m *Manager) setSplit(ctx context.Context, app string, s *split) error {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if s == nil {
		delete(m.splits, app)
	} else {
		m.splits[app] = s
	}
	return m.pushRoutes(ctx, nil)
}

// splitBackends returns the backends of a split route, or nil when one of the
// two releases does not run.
func splitBackends(s *split, from, to []string) []router.Backend {
	if len(from) == 0 || len(to) == 0 {
		return nil
	}
	w := int(s.percent*10 + 0.5) // weights in tenths of a percent
	return []router.Backend{
		{Release: s.from, Addrs: from, Weight: 1000 - w},
		{Release: s.to, Addrs: to, Weight: w},
	}
}
