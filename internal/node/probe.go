package node

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"
)

const (
	// probeFirst is the first probe interval of a starting replica, growing by
	// half each time up to probeStarting: most apps listen within tens of
	// milliseconds, and every probe interval is added to each deploy.
	probeFirst = 20 * time.Millisecond
	// probeStarting is the longest probe interval until a replica is healthy:
	// short, so a new release takes traffic soon after it can.
	probeStarting = 200 * time.Millisecond
	// probeHealthy is the interval once healthy: enough to notice a hung app
	// without loading it.
	probeHealthy = 2 * time.Second
	probeTimeout = time.Second
	// probeFailures in a row make a healthy replica unhealthy; one lost probe
	// must not take a replica out of rotation.
	probeFailures = 3
)

func newProbeClient() *http.Client {
	return &http.Client{
		Timeout: probeTimeout,
		// A new connection per probe: a probe must show that the app accepts
		// connections now, and idle probe connections would pile up in the app.
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// A redirect answer means the app serves; following it could leave the
		// replica (a redirect to a login page on another host).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// probeLoop probes the replica's readiness until ctx ends (the process exited).
func (r *replica) probeLoop(ctx context.Context) {
	healthy := false
	failures := 0
	starting := probeFirst
	t := time.NewTimer(starting)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.probe(ctx) {
			failures = 0
			if !healthy {
				healthy = true
				r.setHealthy(true)
			}
		} else if ctx.Err() == nil {
			failures++
			if healthy && failures >= probeFailures {
				healthy = false
				r.setHealthy(false)
				r.sup.logger.Warn("replica failed its readiness probe",
					"workload", r.spec.ID, "replica", r.index, "failures", failures)
			}
		}
		if healthy {
			t.Reset(probeHealthy)
			starting = probeFirst
		} else {
			starting = min(starting*3/2, probeStarting)
			t.Reset(starting)
		}
	}
}

// probe reports whether the replica answers: an HTTP GET of the health path with
// a 2xx or 3xx status, or, without a health path, an accepted TCP connection.
func (r *replica) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if r.spec.HealthPath == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", r.addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	path := r.spec.HealthPath
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := r.sup.probeClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
