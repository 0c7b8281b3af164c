package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// startBackend serves "NAME PATH" followed by pad bytes of padding, and returns
// its host:port.
func startBackend(t *testing.T, name string, pad int) string {
	t.Helper()
	padding := strings.Repeat("x", pad)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s%s", name, r.URL.RequestURI(), padding)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// mirroredRoute serves app on APP.localhost from release 1 at live and copies
// every request to release 2 at cand.
func mirroredRoute(app, live, cand string) router.Route {
	return router.Route{
		App: app, Hosts: []string{app + ".localhost"},
		Backends: []router.Backend{{Release: 1, Addrs: []string{live}, Weight: 1}},
		Mirror:   &router.MirrorPolicy{Release: 2, Addrs: []string{cand}, Percent: 100},
	}
}

// getVia sends GET path for app's host through the node's router and returns the
// body; a router that hangs fails the test through the client timeout.
func getVia(t *testing.T, n *runningNode, app, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+n.info.HTTPAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = app + ".localhost"
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %d %v", app, path, resp.StatusCode, err)
	}
	return string(body)
}

// subscription is a MirrorExchanges call running in the background.
type subscription struct {
	exchanges chan router.Exchange
	done      chan error // MirrorExchanges' result
	cancel    context.CancelFunc
}

// subscribe starts streaming the app's exchanges (every app's when empty), with
// fn called first for each (nil: none), and waits until the node lists want
// subscribers, so no exchange sent afterwards is missed.
func subscribe(t *testing.T, n *runningNode, app string, want int, fn func(router.Exchange)) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{exchanges: make(chan router.Exchange, 1000), done: make(chan error, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		s.done <- n.client.MirrorExchanges(ctx, app, func(ex router.Exchange) error {
			if fn != nil {
				fn(ex)
			}
			s.exchanges <- ex
			return nil
		})
	}()
	waitFor(t, 5*time.Second, "the subscriber to be listed", func() bool {
		subs, err := n.client.MirrorSubscribers(context.Background())
		return err == nil && len(subs) == want
	})
	return s
}

// receive returns the next count exchanges of the subscription.
func (s *subscription) receive(t *testing.T, count int) map[string]router.Exchange {
	t.Helper()
	got := make(map[string]router.Exchange)
	timeout := time.After(10 * time.Second)
	for len(got) < count {
		select {
		case ex := <-s.exchanges:
			got[ex.App+" "+ex.Request.Path] = ex
		case err := <-s.done:
			t.Fatalf("stream ended after %d exchanges: %v", len(got), err)
		case <-timeout:
			t.Fatalf("got %d exchanges, want %d", len(got), count)
		}
	}
	return got
}

func subscriberStats(t *testing.T, n *runningNode) []MirrorSubscriber {
	t.Helper()
	subs, err := n.client.MirrorSubscribers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

func mirrorMetricsOf(t *testing.T, n *runningNode, app string) router.MirrorMetrics {
	t.Helper()
	all, err := n.client.MirrorMetrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.App == app && m.Release == 2 {
			return m
		}
	}
	return router.MirrorMetrics{}
}

func TestMirrorExchangesStreamBothAnswers(t *testing.T) {
	t.Parallel()
	n := runNode(t, t.TempDir())
	ctx := context.Background()
	table := router.Table{Routes: []router.Route{
		mirroredRoute("shop", startBackend(t, "shop-live", 0), startBackend(t, "shop-cand", 0)),
		mirroredRoute("blog", startBackend(t, "blog-live", 0), startBackend(t, "blog-cand", 0)),
	}}
	if err := n.client.SetRoutes(ctx, table); err != nil {
		t.Fatal(err)
	}
	if m, err := n.client.MirrorMetrics(ctx); err != nil || len(m) != 2 || m[0].Mirrored != 0 {
		t.Fatalf("MirrorMetrics before traffic = %+v, %v; want both candidates, no copy", m, err)
	}
	every := subscribe(t, n, "", 1, nil)
	shop := subscribe(t, n, "shop", 2, nil)

	for i := range 3 {
		if got, want := getVia(t, n, "shop", fmt.Sprintf("/cart?i=%d", i)), fmt.Sprintf("shop-live /cart?i=%d", i); got != want {
			t.Fatalf("user got %q, want the live answer %q", got, want)
		}
	}
	for i := range 2 {
		getVia(t, n, "blog", fmt.Sprintf("/post/%d", i))
	}

	all := every.receive(t, 5)
	for i := range 3 {
		path := fmt.Sprintf("/cart?i=%d", i)
		ex := all["shop "+path]
		if ex.LiveRelease != 1 || ex.CandidateRelease != 2 || ex.Request.Method != http.MethodGet ||
			ex.Live.Status != 200 || string(ex.Live.Body) != "shop-live "+path ||
			ex.Candidate.Status != 200 || string(ex.Candidate.Body) != "shop-cand "+path ||
			ex.Live.Err != "" || ex.Candidate.Err != "" || ex.Time.IsZero() {
			t.Errorf("exchange of %s = %+v", path, ex)
		}
	}
	if ex := all["blog /post/1"]; string(ex.Live.Body) != "blog-live /post/1" || string(ex.Candidate.Body) != "blog-cand /post/1" {
		t.Errorf("blog exchange = %+v", ex)
	}

	// Every exchange has been published once the unfiltered subscriber has it
	// all: the filtered one was offered shop's only.
	for path := range shop.receive(t, 3) {
		if !strings.HasPrefix(path, "shop ") {
			t.Errorf("app=shop subscriber got %s", path)
		}
	}
	select {
	case ex := <-shop.exchanges:
		t.Errorf("app=shop subscriber got a 4th exchange: %s %s", ex.App, ex.Request.Path)
	default:
	}
	subs := subscriberStats(t, n)
	if len(subs) != 2 || subs[0].App != "" || subs[0].Offered != 5 || subs[1].App != "shop" || subs[1].Offered != 3 ||
		subs[0].Dropped+subs[1].Dropped != 0 {
		t.Errorf("subscribers = %+v", subs)
	}
	if m := mirrorMetricsOf(t, n, "shop"); m.Mirrored != 3 || m.Errors+m.Dropped+m.Skipped != 0 {
		t.Errorf("shop's mirror metrics = %+v", m)
	}
	if m := mirrorMetricsOf(t, n, "blog"); m.Mirrored != 2 {
		t.Errorf("blog's mirror metrics = %+v", m)
	}

	// A subscriber that goes away is told why, and the node forgets it.
	shop.cancel()
	select {
	case err := <-shop.done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrMirrorStreamEnded) {
			t.Errorf("MirrorExchanges after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MirrorExchanges did not return after its context ended")
	}
	waitFor(t, 5*time.Second, "the node to drop the gone subscriber", func() bool {
		subs := subscriberStats(t, n)
		return len(subs) == 1 && subs[0].App == ""
	})
}

func TestMirrorSlowSubscriberDoesNotSlowUsers(t *testing.T) {
	t.Parallel()
	n := runNodeWith(t, Config{DataDir: t.TempDir(), MirrorBuffer: 2})
	ctx := context.Background()
	// Big answers fill the socket between node and subscriber at once, so the
	// subscriber's buffer is what overflows.
	const pad = 256 << 10
	if err := n.client.SetRoutes(ctx, router.Table{Routes: []router.Route{
		mirroredRoute("shop", startBackend(t, "live", pad), startBackend(t, "cand", pad)),
	}}); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) }) // lets the blocked reader go
	slow := subscribe(t, n, "shop", 1, func(router.Exchange) { <-stuck })

	const requests = 20
	for i := range requests {
		if body := getVia(t, n, "shop", fmt.Sprintf("/%d", i)); len(body) < pad {
			t.Fatalf("request %d: short answer (%d bytes)", i, len(body))
		}
	}
	// The router's workers handed every exchange over without waiting for the
	// subscriber; the node dropped the ones its buffer could not hold.
	waitFor(t, 10*time.Second, "every copy to be answered", func() bool {
		return mirrorMetricsOf(t, n, "shop").Mirrored == requests
	})
	if m := mirrorMetricsOf(t, n, "shop"); m.Dropped != 0 {
		t.Errorf("the router dropped %d copies: the subscriber held up its mirror workers", m.Dropped)
	}
	waitFor(t, 5*time.Second, "every exchange to be offered", func() bool {
		subs := subscriberStats(t, n)
		return len(subs) == 1 && subs[0].Offered == requests
	})
	s := subscriberStats(t, n)[0]
	// At most the buffer, one exchange the blocked reader holds and a couple in
	// the socket got through.
	if s.Dropped < requests-8 || s.Sent+s.Dropped > s.Offered {
		t.Errorf("slow subscriber = %+v, want most of %d exchanges dropped", s, requests)
	}
	select {
	case err := <-slow.done:
		t.Fatalf("the slow subscriber's stream ended: %v", err)
	default:
	}
}

func TestMirrorStreamEndsWhenNodeStops(t *testing.T) {
	t.Parallel()
	n := runNode(t, t.TempDir())
	s := subscribe(t, n, "", 1, nil)
	stopped := make(chan error, 1)
	go func() { stopped <- n.stop() }()
	select {
	case err := <-s.done:
		if !errors.Is(err, ErrMirrorStreamEnded) || errors.Is(err, context.Canceled) {
			t.Errorf("MirrorExchanges when the node stops = %v, want ErrMirrorStreamEnded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when the node stopped")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop with a mirror subscriber")
	}
}

func TestMirrorExchangesRefusesBadApp(t *testing.T) {
	t.Parallel()
	n := runNode(t, t.TempDir())
	err := n.client.MirrorExchanges(context.Background(), "../shop", func(router.Exchange) error { return nil })
	if err == nil || errors.Is(err, ErrMirrorStreamEnded) || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("MirrorExchanges(../shop) = %v, want a refusal", err)
	}
}
