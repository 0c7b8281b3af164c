package router

import (
	"io"
	"net/http"
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
