package router

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

func TestWeightedSplit(t *testing.T) {
	servers := map[int]string{}
	for rel := 1; rel <= 3; rel++ {
		servers[rel] = addrOf(startBackend(t, fmt.Sprint(rel), nil))
	}
	tests := []struct {
		name    string
		weights map[int]int // release -> weight
	}{
		{"even", map[int]int{1: 1, 2: 1}},
		{"canary", map[int]int{1: 90, 2: 10}},
		{"three ways with a drained release", map[int]int{1: 5, 2: 3, 3: 0}},
		{"large weights", map[int]int{1: 7000, 2: 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := Route{App: "shop", Hosts: []string{"shop.localhost"}}
			total := 0
			for rel := 1; rel <= 3; rel++ {
				if w, ok := tt.weights[rel]; ok {
					route.Backends = append(route.Backends, Backend{Release: rel, Addrs: []string{servers[rel]}, Weight: w})
					total += w
				}
			}
			_, srv := startRouter(t, Table{Routes: []Route{route}})
			c := newClient(t)

			const n = 1000
			got := map[string]int{}
			for range n {
				a := mustGet(t, c, srv.URL, "shop.localhost")
				if a.status != http.StatusOK {
					t.Fatalf("status %d: %s", a.status, a.body)
				}
				got[a.release]++
			}
			for rel, w := range tt.weights {
				want := float64(n*w) / float64(total)
				share := got[fmt.Sprintf("v%d", rel)]
				if math.Abs(float64(share)-want) > 0.02*n {
					t.Errorf("v%d (weight %d) got %d of %d requests, want %.0f ± 2%%", rel, w, share, n, want)
				}
			}
		})
	}
}

// TestSmoothPick checks that the split interleaves the releases rather than sending
// each its share in one burst.
func TestSmoothPick(t *testing.T) {
	pickSequence := func(weights ...int) string {
		var route Route
		for i, w := range weights {
			route.Backends = append(route.Backends, Backend{Release: i + 1, Addrs: []string{"127.0.0.1:1"}, Weight: w})
		}
		rt := compileRoute(t, route)
		var seq strings.Builder
		for range 14 {
			fmt.Fprint(&seq, rt.pick().release)
		}
		return seq.String()
	}
	if got := pickSequence(1, 1); got != "12121212121212" {
		t.Errorf("1:1 picks %s, want alternation", got)
	}
	// The sequence nginx documents for weights 5, 1, 1: a a b a c a a.
	if got := pickSequence(5, 1, 1); got != "11213111121311" {
		t.Errorf("5:1:1 picks %s, want 1121311 twice", got)
	}
}

func compileRoute(t *testing.T, r Route) *route {
	t.Helper()
	r.App, r.Hosts = "shop", []string{"shop.localhost"}
	return compile(Table{Routes: []Route{r}}, newMetricsRegistry(), newMirrorRegistry()).hosts["shop.localhost"]
}

func TestRoundRobinAcrossAddrs(t *testing.T) {
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, addrOf(startBackend(t, fmt.Sprintf("replica-%d", i), nil)))
	}
	_, srv := startRouter(t, oneRelease("shop", 1, addrs...))
	c := newClient(t)

	got := map[string]int{}
	var first []string
	for i := range 300 {
		a := mustGet(t, c, srv.URL, "shop.localhost")
		got[a.body]++
		if i < 3 {
			first = append(first, a.body)
		}
	}
	for i := range 3 {
		if n := got[fmt.Sprintf("replica-%d", i)]; n != 100 {
			t.Errorf("replica-%d served %d of 300 requests, want 100 (all: %v)", i, n, got)
		}
	}
	if first[0] == first[1] || first[1] == first[2] || first[0] == first[2] {
		t.Errorf("first three requests went to %v, want three different replicas", first)
	}
}
