package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// traffic is the light steady load of users during the runs: GET /api/notes
// and GET / in turn at a fixed rate, so that mirror production compares real
// traffic. Every answer that is not a 200 is a failed user request.
type traffic struct {
	routerURL, host string
	greeting        string // every GET / answer starts with it, old or new

	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	sent     int
	failed   int
	failures []string // the first few, for the report
}

// maxTraffic bounds the load even if the bench never stops it.
const maxTraffic = 30 * time.Minute

// startTraffic sends rate requests per second until stop is called.
func startTraffic(routerURL, host, greeting string, rate int) *traffic {
	t := &traffic{routerURL: routerURL, host: host, greeting: greeting,
		stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop(time.Second / time.Duration(rate))
	return t
}

func (t *traffic) loop(every time.Duration) {
	defer close(t.done)
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := time.After(maxTraffic)
	for i := 0; ; i++ {
		select {
		case <-t.stop:
			return
		case <-end:
			return
		case <-tick.C:
		}
		path := "/api/notes"
		if i%2 == 1 {
			path = "/"
		}
		t.record(path, t.get(client, path))
	}
}

// get sends one request and returns why it failed, or "".
func (t *traffic) get(client *http.Client, path string) string {
	req, err := http.NewRequest(http.MethodGet, t.routerURL+path, nil)
	if err != nil {
		return err.Error()
	}
	req.Host = t.host
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err.Error()
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("status %d: %.100s", resp.StatusCode, body)
	case path == "/" && !strings.HasPrefix(string(body), t.greeting):
		return fmt.Sprintf("unexpected answer %.100q", body)
	}
	return ""
}

func (t *traffic) record(path, failure string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	if failure == "" {
		return
	}
	t.failed++
	if len(t.failures) < 5 {
		t.failures = append(t.failures, "GET "+path+": "+failure)
	}
}

// counts returns the requests sent and failed so far.
func (t *traffic) counts() (sent, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent, t.failed
}

// end stops the load and returns the totals and the first failures.
func (t *traffic) end() (sent, failed int, failures []string) {
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent, t.failed, t.failures
}
