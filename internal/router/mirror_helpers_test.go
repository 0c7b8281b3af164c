package router

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startMirrorRouter is startRouter with the mirror's limits shrunk for a test.
func startMirrorRouter(t testing.TB, table Table, queue, workers int, timeout time.Duration) (*Router, *httptest.Server) {
	t.Helper()
	rt := New(nil)
	rt.mirror = newMirrorer(rt.logger, queue, workers, timeout)
	if err := rt.SetTable(table); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(rt)
	t.Cleanup(func() {
		s.Close()
		rt.CloseIdleConnections()
	})
	return rt, s
}

// mirrorTable is one app "shop" whose release 1 is live and release 2 a candidate.
func mirrorTable(live, candidate string, percent float64, maxBody int64) Table {
	return Table{Routes: []Route{{
		App:      "shop",
		Hosts:    []string{"shop.localhost"},
		Backends: []Backend{{Release: 1, Addrs: []string{live}, Weight: 1}},
		Mirror:   &MirrorPolicy{Release: 2, Addrs: []string{candidate}, Percent: percent, MaxBodyBytes: maxBody},
	}}}
}

// seen is one request as a test backend received it.
type seen struct {
	method, uri, mirror, body string
}

// recordingBackend answers "NAME METHOD URI BODY" and remembers what it got.
type recordingBackend struct {
	name string
	mu   sync.Mutex
	got  []seen
	n    atomic.Int64
}

func startRecording(t testing.TB, name string) (*recordingBackend, string) {
	b := &recordingBackend{name: name}
	s := startBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, seen{r.Method, r.URL.RequestURI(), r.Header.Get(MirrorHeader), string(body)})
		b.mu.Unlock()
		b.n.Add(1)
		w.Header().Set("X-Answered-By", name)
		fmt.Fprintf(w, "%s %s %s %s", name, r.Method, r.URL.RequestURI(), body)
	})
	return b, addrOf(s)
}

func (b *recordingBackend) requests() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.got...)
}

// collectExchanges sets a sink that keeps every exchange.
func collectExchanges(rt *Router) func() []Exchange {
	var mu sync.Mutex
	var all []Exchange
	rt.SetMirrorSink(func(ex Exchange) {
		mu.Lock()
		all = append(all, ex)
		mu.Unlock()
	})
	return func() []Exchange {
		mu.Lock()
		defer mu.Unlock()
		return append([]Exchange(nil), all...)
	}
}

// mirrorReading returns the metrics of the app's candidate, or a zero reading.
func mirrorReading(rt *Router, app string, release int) MirrorMetrics {
	for _, m := range rt.MirrorMetrics() {
		if m.App == app && m.Release == release {
			return m
		}
	}
	return MirrorMetrics{}
}

// settled is the number of sampled requests whose copy has an outcome.
func (m MirrorMetrics) settled() int64 {
	return m.Mirrored + m.Errors + m.Dropped + m.Skipped
}
