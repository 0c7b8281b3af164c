package router

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMirrorBoundedQueue sends many requests with sizeable bodies while the
// candidate holds every copy: the copies that do not fit the queue are dropped
// and counted, and neither memory nor goroutines grow with the requests.
func TestMirrorBoundedQueue(t *testing.T) {
	const (
		requests = 1000
		bodySize = 32 << 10
		queue    = 2
	)
	// A live backend that keeps nothing, unlike startRecording's.
	liveAddr := addrOf(startBackend(t, "live", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "live got %d", n)
	}))
	stop := make(chan struct{})
	var held atomic.Int64
	cand := startBackend(t, "cand", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		held.Add(1)
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(stop) }) // before the candidate closes, which waits for its handlers
	rt, srv := startMirrorRouter(t, mirrorTable(liveAddr, addrOf(cand), 100, 0), queue, 1, 30*time.Second)
	collectExchanges(rt)
	c := newClient(t)
	body := strings.Repeat("b", bodySize)

	// Warm up connections and pools, so the reading below sees only growth.
	for range 10 {
		send(t, c, http.MethodPost, srv.URL, "shop.localhost", body)
	}
	eventually(t, "the candidate holding a copy", func() bool { return held.Load() == 1 })
	heapBefore, goroutinesBefore := heapInUse(), runtime.NumGoroutine()
	for i := range requests {
		a, err := send(t, c, http.MethodPost, srv.URL, "shop.localhost", body)
		if want := fmt.Sprint("live got ", bodySize); err != nil || a.status != 200 || a.body != want {
			t.Fatalf("request %d: %d %q, %v; want 200 %q", i, a.status, a.body, err, want)
		}
	}
	heapAfter, goroutinesAfter := heapInUse(), runtime.NumGoroutine()

	m := mirrorReading(rt, "shop", 2)
	// One copy is held by the worker and the queue is full: every copy of the
	// loop's requests was dropped.
	if m.Dropped != requests+10-1-queue || m.Mirrored+m.Errors != 0 {
		t.Errorf("mirror metrics %+v, want %d dropped and none answered", m, requests+10-1-queue)
	}
	// Had the copies been kept, they would hold requests*bodySize = 32 MiB.
	if growth := int64(heapAfter) - int64(heapBefore); growth > 4<<20 {
		t.Errorf("heap grew by %d KiB over %d requests", growth>>10, requests)
	}
	if goroutinesAfter > goroutinesBefore+20 {
		t.Errorf("goroutines went from %d to %d", goroutinesBefore, goroutinesAfter)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMirrorLiveReconfiguration switches between tables with and without mirrors
// while clients send requests: not one request may fail or be answered by the
// candidate.
func TestMirrorLiveReconfiguration(t *testing.T) {
	v1 := addrOf(startBackend(t, "v1", nil))
	v2 := addrOf(startBackend(t, "v2", nil))
	cand, candAddr := startRecording(t, "cand")
	slow := addrOf(startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // a candidate slower than the live release
	}))
	split := Table{Routes: []Route{{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []Backend{
		{Release: 1, Addrs: []string{v1}, Weight: 1},
		{Release: 2, Addrs: []string{v2}, Weight: 1},
	}}}}
	splitMirrored := split.clone()
	splitMirrored.Routes[0].Mirror = &MirrorPolicy{Release: 3, Addrs: []string{slow}, Percent: 50}
	tables := []Table{
		oneRelease("shop", 1, v1),
		mirrorTable(v1, candAddr, 100, 0),
		split,
		splitMirrored,
	}
	rt, srv := startMirrorRouter(t, tables[0], 8, 2, 5*time.Second)
	collectExchanges(rt)
	c := newClient(t)

	const workers, perWorker, flips = 10, 50, 100
	var completed atomic.Int64
	var failures sync.Map
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range perWorker {
				a, err := send(t, c, http.MethodPost, srv.URL, "shop.localhost", fmt.Sprint(i))
				switch {
				case err != nil:
					failures.Store(err.Error(), true)
				case a.status != 200 || a.body != a.release:
					failures.Store(fmt.Sprintf("%d %q from %q", a.status, a.body, a.release), true)
				}
				completed.Add(1)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range flips {
		for completed.Load() < int64(i*workers*perWorker/flips) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		if err := rt.SetTable(tables[i%len(tables)]); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("failed request: %s", k)
		return true
	})
	if cand.n.Load() == 0 {
		t.Error("the candidate got no copy")
	}
	eventually(t, "nothing in flight", func() bool { return rt.InFlight("shop", 1)+rt.InFlight("shop", 2) == 0 })
}
