package router

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostMatching(t *testing.T) {
	shop := startBackend(t, "shop", nil)
	_, srv := startRouter(t, Table{Routes: []Route{{
		App:      "shop",
		Hosts:    []string{"Shop.Localhost", "shop.example.com"},
		Backends: []Backend{{Release: 1, Addrs: []string{addrOf(shop)}, Weight: 1}},
	}}})
	c := newClient(t)

	tests := []struct {
		host       string
		wantStatus int
	}{
		{"shop.localhost", http.StatusOK},
		{"shop.localhost:8080", http.StatusOK},
		{"SHOP.LOCALHOST", http.StatusOK},
		{"Shop.Localhost:80", http.StatusOK},
		{"shop.localhost.", http.StatusOK},
		{"shop.example.com", http.StatusOK},
		{"www.shop.localhost", http.StatusNotFound},
		{"shop", http.StatusNotFound},
		{"blog.localhost", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			a := mustGet(t, c, srv.URL, tt.host)
			if a.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", a.status, tt.wantStatus, a.body)
			}
			if tt.wantStatus == http.StatusOK && (a.body != "shop" || a.release != "v1") {
				t.Fatalf("answer = %q from %q, want %q from v1", a.body, a.release, "shop")
			}
		})
	}
}

func TestErrorAnswers(t *testing.T) {
	live := startBackend(t, "live", nil)
	_, srv := startRouter(t, Table{Routes: []Route{
		{App: "shop", Hosts: []string{"shop.localhost", "shop.example.com"},
			Backends: []Backend{{Release: 1, Addrs: []string{addrOf(live)}, Weight: 1}}},
		{App: "new", Hosts: []string{"new.localhost"}},
		{App: "drained", Hosts: []string{"drained.localhost"},
			Backends: []Backend{{Release: 4, Addrs: []string{addrOf(live)}, Weight: 0}, {Release: 5, Weight: 1}}},
		{App: "down", Hosts: []string{"down.localhost"},
			Backends: []Backend{{Release: 7, Addrs: []string{refusedAddr(t)}, Weight: 1}}},
	}})
	c := newClient(t)

	tests := []struct {
		name, host  string
		wantStatus  int
		wantBody    string
		wantRelease string
	}{
		{"unknown localhost app names the command", "blog.localhost:8080", 404,
			`prosper: no app serves host "blog.localhost"; create it with: prosper app create blog`, ""},
		{"unknown domain", "Www.Example.COM", 404,
			`prosper: no app serves host "www.example.com"; create it with: prosper app create NAME`, ""},
		{"app without releases", "new.localhost", 503, `prosper: app "new" has no live release yet`, ""},
		{"weight 0 and no addrs are not live", "drained.localhost", 503, `prosper: app "drained" has no live release yet`, ""},
		{"release refusing connections", "down.localhost", 502, `prosper: app "down" release v7 is not answering`, "v7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustGet(t, c, srv.URL, tt.host)
			if a.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", a.status, tt.wantStatus)
			}
			if got := strings.TrimSpace(a.body); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if a.release != tt.wantRelease {
				t.Errorf("Prosper-Release = %q, want %q", a.release, tt.wantRelease)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	echo := startBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s xff=%s xfh=%s xfp=%s path=%s",
			r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Proto"), r.URL.RequestURI())
	})
	_, srv := startRouter(t, oneRelease("shop", 1, addrOf(echo)))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/a/b?q=1", nil)
	req.Host = "shop.localhost:8080"
	// A client must not be able to pass for another address.
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	res, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	want := "host=shop.localhost:8080 xff=127.0.0.1 xfh=shop.localhost:8080 xfp=http path=/a/b?q=1"
	if string(body) != want {
		t.Fatalf("backend saw %q, want %q", body, want)
	}
}

// TestStreaming checks that the router passes each chunk on as soon as the app
// flushes it, as server-sent events and long polls need.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	stream := startBackend(t, "stream", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second\n")
	})
	_, srv := startRouter(t, oneRelease("shop", 1, addrOf(stream)))
	defer close(release)

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Host = "shop.localhost"
	res, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The client's 10 s timeout bounds this read if the chunk is held back.
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk = %q, %v; want it before the response ends", line, err)
	}
}

// TestInFlightFinishOnOldRelease switches the table while a request is being
// served: the request finishes on the release it started on, new requests go to
// the new one, and InFlight tells when the old release can be stopped.
func TestInFlightFinishOnOldRelease(t *testing.T) {
	unblock := make(chan struct{})
	old := startBackend(t, "old", func(w http.ResponseWriter, r *http.Request) {
		<-unblock
		io.WriteString(w, "old")
	})
	next := startBackend(t, "new", nil)
	rt, srv := startRouter(t, oneRelease("shop", 1, addrOf(old)))
	c := newClient(t)

	done := make(chan answer, 1)
	go func() {
		a, err := send(t, c, http.MethodGet, srv.URL, "shop.localhost", "")
		if err != nil {
			a.body = err.Error()
		}
		done <- a
	}()
	eventually(t, "v1 in flight", func() bool { return rt.InFlight("shop", 1) == 1 })

	if err := rt.SetTable(oneRelease("shop", 2, addrOf(next))); err != nil {
		t.Fatal(err)
	}
	if a := mustGet(t, c, srv.URL, "shop.localhost"); a.body != "new" || a.release != "v2" {
		t.Fatalf("after the switch: %q from %q, want \"new\" from v2", a.body, a.release)
	}
	if n := rt.InFlight("shop", 1); n != 1 {
		t.Fatalf("InFlight(v1) = %d after the switch, want 1", n)
	}
	close(unblock)
	if a := <-done; a.status != http.StatusOK || a.body != "old" || a.release != "v1" {
		t.Fatalf("in-flight request: %d %q from %q, want 200 \"old\" from v1", a.status, a.body, a.release)
	}
	eventually(t, "v1 drained", func() bool { return rt.InFlight("shop", 1) == 0 })
}

// TestLiveReconfiguration flips the table between two releases 200 times while 20
// clients send requests; not one request may fail or be answered by a release
// other than the one named in its Prosper-Release header.
func TestLiveReconfiguration(t *testing.T) {
	a := startBackend(t, "v1", nil)
	b := startBackend(t, "v2", nil)
	tables := []Table{
		oneRelease("shop", 1, addrOf(a)),
		oneRelease("shop", 2, addrOf(b)),
		{Routes: []Route{{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []Backend{
			{Release: 1, Addrs: []string{addrOf(a)}, Weight: 1},
			{Release: 2, Addrs: []string{addrOf(b)}, Weight: 1},
		}}}},
	}
	rt, srv := startRouter(t, tables[0])
	c := newClient(t)

	const workers, perWorker, flips = 20, 50, 200
	var completed atomic.Int64
	var failures sync.Map // error text -> true
	var byRelease [3]atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				ans, err := send(t, c, http.MethodGet, srv.URL, "shop.localhost", "")
				switch {
				case err != nil:
					failures.Store(err.Error(), true)
				case ans.status != http.StatusOK || ans.body != ans.release:
					failures.Store(fmt.Sprintf("%d %q from %q", ans.status, ans.body, ans.release), true)
				case ans.release == "v1":
					byRelease[1].Add(1)
				default:
					byRelease[2].Add(1)
				}
				completed.Add(1)
			}
		})
	}
	// Flip as the requests progress, so the flips are spread over the whole run
	// rather than all done before the first request.
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
	if byRelease[1].Load() == 0 || byRelease[2].Load() == 0 {
		t.Errorf("answers by release: v1=%d v2=%d; want both to have served", byRelease[1].Load(), byRelease[2].Load())
	}
	if got := byRelease[1].Load() + byRelease[2].Load(); got != workers*perWorker && !t.Failed() {
		t.Errorf("%d successful answers, want %d", got, workers*perWorker)
	}
	eventually(t, "nothing in flight", func() bool { return rt.InFlight("shop", 1)+rt.InFlight("shop", 2) == 0 })
}
