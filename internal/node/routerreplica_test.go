package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// testReplica is a router replica run in the test process by RunRouter, as
// `prosper router` runs it.
type testReplica struct {
	name      string
	url       string // http://host:port of its router
	healthURL string
	stop      func() error // graceful, as on SIGTERM
	crash     func()       // as kill -9: no drain, no goodbye
}

func startReplica(t *testing.T, natsAddr, token, name string) *testReplica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	crash := make(chan struct{})
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunRouter(ctx, RouterConfig{
			NATSURL: "nats://" + natsAddr, Token: token, HTTPAddr: "127.0.0.1:0", HealthAddr: "127.0.0.1:0",
			Name: name, Drain: 200 * time.Millisecond, Logger: testLogger().With("test_replica", name),
			Listening: func(h, hh string) { addrs <- [2]string{h, hh} },
			crash:     crash,
		})
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("replica %s: %v", name, err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("replica %s did not listen", name)
	}
	var once sync.Once
	var runErr error
	end := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = end() })
	r := &testReplica{name: name, url: "http://" + a[0], healthURL: "http://" + a[1], stop: end}
	r.crash = func() {
		close(crash)
		_ = end()
	}
	return r
}

// get sends GET path with the Host header host to base.
func get(base, host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func mustGetBody(t *testing.T, base, host, path, want string) {
	t.Helper()
	code, body, err := get(base, host, path)
	if err != nil || code != http.StatusOK || body != want {
		t.Fatalf("GET %s%s (Host %s) = %d %q, %v; want 200 %q", base, path, host, code, body, err, want)
	}
}

// natsNode runs a node with NATS on a free port and returns it with its token.
func natsNode(t *testing.T, dir, addr string) (*runningNode, string) {
	t.Helper()
	n := runNodeWith(t, Config{DataDir: dir, NATSAddr: addr})
	if n.info.NATSAddr == "" {
		t.Fatal("the node reports no NATS address")
	}
	tok, err := natsToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n, tok
}

func requestsOf(t *testing.T, c *Client, app string, release int) int64 {
	t.Helper()
	m, err := c.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m {
		if r.App == app && r.Release == release {
			return r.Requests
		}
	}
	return 0
}

func replicaState(t *testing.T, c *Client, name string) string {
	t.Helper()
	st, err := c.Routers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st {
		if r.Name == name {
			return r.State
		}
	}
	return ""
}

func TestRouterReplicasReportToTheNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	start := time.Now()
	n, token := natsNode(t, dir, "127.0.0.1:0")
	c := n.client

	// A real app process, live as shop v1; a held backend for the in-flight
	// check.
	if err := c.Start(ctx, appSpec(t, "shop", 1, "/healthz", map[string]string{"GREETING": "v1"})); err != nil {
		t.Fatal(err)
	}
	v1 := waitReady(t, c, "shop-v1").Replicas[0].Addr
	if err := c.Start(ctx, appSpec(t, "shop", 2, "/healthz", map[string]string{"GREETING": "v2"})); err != nil {
		t.Fatal(err)
	}
	v2 := waitReady(t, c, "shop-v2").Replicas[0].Addr
	release := make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, "held")
	}))
	defer hold.Close()
	shop := router.Route{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []router.Backend{{Release: 1, Addrs: []string{v1}, Weight: 1}}}
	if err := c.SetRoutes(ctx, router.Table{Routes: []router.Route{shop}}); err != nil {
		t.Fatal(err)
	}

	a := startReplica(t, n.info.NATSAddr, token, "router-a")
	b := startReplica(t, n.info.NATSAddr, token, "router-b")
	for _, r := range []*testReplica{a, b} {
		waitFor(t, 10*time.Second, r.name+" ready", func() bool {
			code, _, err := get(r.healthURL, "", "/readyz")
			return err == nil && code == http.StatusOK
		})
		if code, _, _ := get(r.healthURL, "", "/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz = %d", r.name, code)
		}
	}

	// Traffic through both replicas and the node's own router is summed.
	for range 5 {
		mustGetBody(t, a.url, "shop.localhost", "/", "hello from v1")
	}
	for range 7 {
		mustGetBody(t, b.url, "shop.localhost", "/", "hello from v1")
	}
	for range 3 {
		mustGetBody(t, "http://"+n.info.HTTPAddr, "shop.localhost", "/", "hello from v1")
	}
	waitFor(t, 10*time.Second, "15 requests in the node's metrics", func() bool { return requestsOf(t, c, "shop", 1) == 15 })
	il, err := c.TakeIntervalLatency(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(il) != 1 || il[0].Count != 15 || il[0].P99 <= 0 {
		t.Errorf("interval latency = %+v; want shop v1 with 15 requests", il)
	}
	prom, err := c.Prometheus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := `prosper_router_requests_total{app="shop",release="1",code_class="2xx"} 15`; !strings.Contains(string(prom), want) {
		t.Errorf("prometheus lacks %q:\n%s", want, prom)
	}

	// A route change reaches the replicas; a request held in a replica is in
	// flight for the node.
	slow := router.Route{App: "slow", Hosts: []string{"slow.localhost"}, Backends: []router.Backend{{Release: 1, Addrs: []string{strings.TrimPrefix(hold.URL, "http://")}, Weight: 1}}}
	if err := c.SetRoutes(ctx, router.Table{Routes: []router.Route{shop, slow}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new route on router-a", func() bool {
		code, body, err := get(a.url, "slow.localhost", "/")
		return err == nil && code == http.StatusOK && body == "held"
	})
	held := make(chan error, 1)
	go func() {
		_, _, err := get(a.url, "slow.localhost", "/hold")
		held <- err
	}()
	waitFor(t, 10*time.Second, "the held request in flight", func() bool {
		f, err := c.InFlight(ctx, "slow", 1)
		return err == nil && f == 1
	})
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "nothing in flight", func() bool {
		f, err := c.InFlight(ctx, "slow", 1)
		return err == nil && f == 0
	})

	// Mirrored through a replica, the exchanges reach the node's subscribers.
	sub, cancelSub := context.WithCancel(ctx)
	defer cancelSub()
	next, err := c.SubscribeMirror(sub, "shop")
	if err != nil {
		t.Fatal(err)
	}
	shop.Mirror = &router.MirrorPolicy{Release: 2, Addrs: []string{v2}, Percent: 100}
	if err := c.SetRoutes(ctx, router.Table{Routes: []router.Route{shop, slow}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the mirror policy on router-b", func() bool {
		st, err := c.Routers(ctx)
		if err != nil {
			return false
		}
		for _, r := range st {
			if r.Name == "router-b" && r.TableRevision > 0 {
				// in flight of v1 is 0 only once b serves the current table
				f, err := c.InFlight(ctx, "shop", 1)
				return err == nil && f == 0
			}
		}
		return false
	})
	for range 3 {
		mustGetBody(t, b.url, "shop.localhost", "/", "hello from v1")
	}
	for i := range 3 {
		ex, err := next()
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		if ex.App != "shop" || string(ex.Live.Body) != "hello from v1" || string(ex.Candidate.Body) != "hello from v2" {
			t.Errorf("exchange %d = %s %q / %q", i, ex.App, ex.Live.Body, ex.Candidate.Body)
		}
	}
	waitFor(t, 10*time.Second, "3 copies in the mirror metrics", func() bool {
		m, err := c.MirrorMetrics(ctx)
		return err == nil && len(m) == 1 && m[0].Mirrored == 3
	})
	if l, err := c.MirrorLosses(ctx, "shop", start); err != nil || len(l) != 0 {
		t.Errorf("mirror losses = %+v, %v; want none", l, err)
	}

	// A replica stopped cleanly leaves the data complete; one killed makes it
	// incomplete.
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "router-a to have left", func() bool { return replicaState(t, c, "router-a") == router.ReplicaLeft })
	if w, err := c.MetricsWindow(ctx, start); err != nil || !w.Complete {
		t.Fatalf("window after a clean stop = %+v, %v; want complete", w, err)
	}
	b.crash()
	waitFor(t, 10*time.Second, "router-b missing", func() bool { return replicaState(t, c, "router-b") == router.ReplicaMissing })
	w, err := c.MetricsWindow(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if w.Complete || len(w.Missing) != 1 || w.Missing[0].Replica != "router-b" {
		t.Errorf("window after a kill = complete %v, missing %+v; want router-b missing", w.Complete, w.Missing)
	}
	if l, err := c.MirrorLosses(ctx, "shop", start); err != nil || len(l) == 0 {
		t.Errorf("mirror losses after a kill = %+v, %v; want router-b", l, err)
	}
}

func TestRouterReplicaOutlivesTheNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	n, token := natsNode(t, dir, "127.0.0.1:0")
	natsAddr := n.info.NATSAddr
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	route := func(app string) router.Route {
		return router.Route{App: app, Hosts: []string{app + ".localhost"}, Backends: []router.Backend{{Release: 1, Addrs: []string{addr}, Weight: 1}}}
	}
	if err := n.client.SetRoutes(ctx, router.Table{Routes: []router.Route{route("one")}}); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, natsAddr, token, "router-a")
	waitFor(t, 10*time.Second, "the replica to serve", func() bool {
		code, _, err := get(r.url, "one.localhost", "/")
		return err == nil && code == http.StatusOK
	})
	mustGetBody(t, r.url, "one.localhost", "/", "up")

	// The node (and its NATS) goes away: the replica serves its last table.
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		mustGetBody(t, r.url, "one.localhost", "/", "up")
	}
	if code, body, _ := get(r.healthURL, "", "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while NATS is away = %d %q; want 200 (it serves its last table)", code, body)
	}

	// Back on the same address: the replica reconnects, gets the new routes and
	// its reports, those made meanwhile included, reach the new node.
	n2 := runNodeWith(t, Config{DataDir: dir, NATSAddr: natsAddr})
	if err := n2.client.SetRoutes(ctx, router.Table{Routes: []router.Route{route("one"), route("two")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new route on the replica", func() bool {
		code, _, err := get(r.url, "two.localhost", "/")
		return err == nil && code == http.StatusOK
	})
	waitFor(t, 10*time.Second, "the requests made while the node was away", func() bool {
		return requestsOf(t, n2.client, "one", 1) >= 4
	})
}
