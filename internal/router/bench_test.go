package router

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkRouterProxy measures what the router adds to a request: compare the
// proxied time with the direct one. Both use keep-alive connections, as real
// clients and the router's own transport do.
func BenchmarkRouterProxy(b *testing.B) {
	backend := startBackend(b, "hello", nil)
	_, srv := startRouter(b, oneRelease("shop", 1, addrOf(backend)))
	c := newClient(b)

	run := func(b *testing.B, url, host string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, backend.URL, "shop.localhost") })
	b.Run("proxied", func(b *testing.B) { run(b, srv.URL, "shop.localhost") })
}

// BenchmarkRouterMirror measures what mirroring adds to the live path: the same
// proxied request with no mirror, and with every request copied to a candidate
// and paired for a sink. The live latency must not depend on the candidate.
func BenchmarkRouterMirror(b *testing.B) {
	live := startBackend(b, "hello", nil)
	cand := startBackend(b, "hello", nil)
	c := newClient(b)
	for _, mirrored := range []bool{false, true} {
		table := oneRelease("shop", 1, addrOf(live))
		name := "off"
		if mirrored {
			table.Routes[0].Mirror = &MirrorPolicy{Release: 2, Addrs: []string{addrOf(cand)}, Percent: 100}
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			rt, srv := startRouter(b, table)
			var exchanges atomic.Int64
			rt.SetMirrorSink(func(Exchange) { exchanges.Add(1) })
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Host = "shop.localhost"
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			b.StopTimer()
			if mirrored {
				m := rt.MirrorMetrics()[0]
				b.ReportMetric(float64(m.Dropped)/float64(b.N)*100, "%dropped")
			}
		})
	}
}
