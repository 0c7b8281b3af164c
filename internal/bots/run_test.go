package bots

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one request as the test app saw it.
type received struct {
	Method, Path, Host string
	Header             http.Header
	Body               string
}

// bookingApp is a small real HTTP app for bots to use: it stores bookings, answers
// slowly on /slow?ms=N (until the client goes away), and records every request.
type bookingApp struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	bookings map[int]map[string]any
}

func newBookingApp(t *testing.T) *bookingApp {
	t.Helper()
	a := &bookingApp{bookings: map[int]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/bookings", func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		id := len(a.bookings) + 1
		b["id"] = id
		a.bookings[id] = b
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(b)
	})
	mux.HandleFunc("GET /api/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		a.mu.Lock()
		b, ok := a.bookings[id]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(b)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprint(w, "done")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 10<<10)))
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://unreachable.invalid/", http.StatusFound)
	})
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, received{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone(), string(body)})
		a.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *bookingApp) requests() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]received(nil), a.got...)
}

func mustParse(t *testing.T, src string) Scenario {
	t.Helper()
	s, err := Parse("bots/test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunOnceJourney(t *testing.T) {
	app := newBookingApp(t)
	s := mustParse(t, bookRoom+`  - name: link a note
    post: /api/bookings
    json: {room: 99, day: "{{random}}", about: "{{id}}", note: "booking {{id}} by {{run_id}}"}
    expect: {status: 201, json: {$.about: 1, $.room: 99}}
`)
	run := RunOnce(context.Background(), s, Target{BaseURL: app.URL + "/", Host: "notes.localhost"})
	if !run.Passed || run.FailedStep != -1 || run.Reason != "" || !run.Cost.IsZero() {
		t.Fatalf("run failed: %+v", run)
	}
	if len(run.ID) != 12 || run.Scenario != "book a room" || run.File != "bots/test.yaml" || len(run.Steps) != 3 {
		t.Errorf("run = %+v", run)
	}
	if run.Duration <= 0 || run.Started.IsZero() {
		t.Errorf("started %v duration %v", run.Started, run.Duration)
	}
	if got := run.Steps[1].Path; got != "/api/bookings/1" {
		t.Errorf("saved id not substituted: step 2 path %q", got)
	}
	got := app.requests()
	if len(got) != 3 {
		t.Fatalf("app saw %d requests, want 3", len(got))
	}
	for i, r := range got {
		if r.Host != "notes.localhost" {
			t.Errorf("request %d: Host %q", i, r.Host)
		}
		if r.Header.Get("Prosper-Bot") != "book a room" || r.Header.Get("Prosper-Bot-Step") != fmt.Sprintf("%s.%d", run.ID, i) ||
			r.Header.Get("User-Agent") != "prosper-bot/1" {
			t.Errorf("request %d: bot headers %v", i, r.Header)
		}
		if id, step, ok := ParseStepHeader(r.Header.Get("Prosper-Bot-Step")); !ok || id != run.ID || step != i {
			t.Errorf("request %d: step header does not parse back: %q %d %v", i, id, step, ok)
		}
	}
	if got[0].Header.Get("X-Tenant") != "acme" || got[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("first request headers %v", got[0].Header)
	}
	if got[0].Body != `{"room":12,"day":"2026-12-01"}` || got[1].Body != "" {
		t.Errorf("bodies %q %q", got[0].Body, got[1].Body)
	}
	// The number saved from step 1 goes back as a number; text around it stays text.
	var third map[string]any
	if err := json.Unmarshal([]byte(got[2].Body), &third); err != nil {
		t.Fatal(err)
	}
	if third["about"] != 1.0 || third["note"] != "booking 1 by "+run.ID || len(third["day"].(string)) != 8 {
		t.Errorf("third body %s", got[2].Body)
	}
	if string(run.Steps[2].RequestBody) != got[2].Body {
		t.Errorf("recorded request body %s, sent %s", run.Steps[2].RequestBody, got[2].Body)
	}
	if run.Steps[0].Status != 201 || !strings.Contains(string(run.Steps[0].Body), `"room":12`) || run.Steps[0].Latency <= 0 {
		t.Errorf("step 1 result %+v", run.Steps[0])
	}
}

func TestRunOnceFailures(t *testing.T) {
	app := newBookingApp(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name     string
		src      string
		base     string
		failed   int
		attempts int
		reason   string // the run's reason starts with this
	}{{
		name: "stops at the failed step and prices the failure",
		src: `name: book a room
cost_of_failure: 40 EUR
steps:
  - get: /api/bookings/1
    name: read a booking that is not there
    expect: {status: 200}
  - get: /never
`,
		failed: 0, attempts: 1,
		reason: `step 1 "read a booking that is not there" (GET /api/bookings/1): status 404, want 200`,
	}, {
		name: "JSON mismatch names the path and both values",
		src: `steps:
  - post: /api/bookings
    json: {room: 12, day: "2026-12-01"}
    expect: {status: 201, json: {$.room: "12", $.day: "2026-12-01"}}
`,
		failed: 0, attempts: 1,
		reason: `step 1 (POST /api/bookings): $.room is 12 (a number), want "12" (a string)`,
	}, {
		name: "status list",
		src: `steps:
  - post: /api/bookings
    json: {room: 1}
    expect: {status: [200, 202]}
`,
		failed: 0, attempts: 1,
		reason: `step 1 (POST /api/bookings): status 201, want 200 or 202`,
	}, {
		name: "body_contains",
		src: `steps:
  - get: /slow?ms=0
  - get: /slow?ms=1
    expect: {body_contains: "room"}
`,
		failed: 1, attempts: 2,
		reason: `step 2 (GET /slow?ms=1): body does not contain "room"`,
	}, {
		name: "latency",
		src: `steps:
  - get: /slow?ms=150
    expect: {max_latency: 50ms}
`,
		failed: 0, attempts: 1,
		reason: `step 1 (GET /slow?ms=150): took 1`,
	}, {
		name: "timeout",
		src: `timeout: 200ms
steps:
  - get: /slow?ms=10000
`,
		failed: 0, attempts: 1,
		reason: `step 1 (GET /slow?ms=10000): no answer within 200ms`,
	}, {
		name:   "closed port",
		src:    "steps: [{get: /}]\n",
		base:   "http://" + deadAddr,
		failed: 0, attempts: 1,
		reason: `step 1 (GET /): request failed: dial tcp ` + deadAddr + `: connect: connection refused`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.src)
			base := tt.base
			if base == "" {
				base = app.URL
			}
			start := time.Now()
			run := RunOnce(context.Background(), s, Target{BaseURL: base})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("run took %s", elapsed)
			}
			if run.Passed || run.FailedStep != tt.failed || len(run.Steps) != tt.attempts {
				t.Fatalf("passed %v failed step %d attempts %d; want failed step %d attempts %d (%s)",
					run.Passed, run.FailedStep, len(run.Steps), tt.failed, tt.attempts, run.Reason)
			}
			if !strings.HasPrefix(run.Reason, tt.reason) {
				t.Errorf("reason\n got %q\nwant %q…", run.Reason, tt.reason)
			}
			if last := run.Steps[len(run.Steps)-1]; last.Passed || last.Err == "" || !strings.HasSuffix(run.Reason, last.Err) {
				t.Errorf("failed step result %+v", last)
			}
			if run.Cost != s.Cost {
				t.Errorf("cost %v, want %v", run.Cost, s.Cost)
			}
		})
	}
}

func TestRunOnceLatencyPasses(t *testing.T) {
	app := newBookingApp(t)
	s := mustParse(t, "steps:\n  - get: /slow?ms=0\n    expect: {status: 200, max_latency: 2s, body_contains: done}\n")
	if run := RunOnce(context.Background(), s, Target{BaseURL: app.URL}); !run.Passed {
		t.Fatal(run.Reason)
	}
}

func TestRunOnceHostAndRedirects(t *testing.T) {
	app := newBookingApp(t)
	s := mustParse(t, "steps:\n  - get: /moved\n    expect: {status: 302}\n  - get: /big\n")
	run := RunOnce(context.Background(), s, Target{BaseURL: app.URL})
	if !run.Passed {
		t.Fatal(run.Reason)
	}
	got := app.requests()
	if len(got) != 2 {
		t.Fatalf("app saw %d requests; the redirect must not be followed", len(got))
	}
	if want := strings.TrimPrefix(app.URL, "http://"); got[0].Host != want {
		t.Errorf("Host %q, want %q from BaseURL", got[0].Host, want)
	}
	if n := len(run.Steps[1].Body); n != 4<<10 {
		t.Errorf("kept %d bytes of the body, want 4 KiB", n)
	}
}

func TestRunOnceCancelled(t *testing.T) {
	app := newBookingApp(t)
	s := mustParse(t, "steps:\n  - get: /slow?ms=10000\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	run := RunOnce(ctx, s, Target{BaseURL: app.URL})
	if time.Since(start) > 5*time.Second || run.Passed || !strings.Contains(run.Reason, "stopped before the answer came") {
		t.Errorf("after %s: %+v", time.Since(start), run)
	}
}

func TestSmoke(t *testing.T) {
	app := newBookingApp(t)
	s := Smoke("/api/bookings/1")
	if s.Name != "smoke" || s.Every != time.Second || len(s.Steps) != 2 {
		t.Fatalf("Smoke = %+v", s)
	}
	// 404 on both paths is below 500: the app answers, which is what smoke checks.
	if run := RunOnce(context.Background(), s, Target{BaseURL: app.URL}); !run.Passed {
		t.Errorf("smoke failed: %s", run.Reason)
	}
	if got := len(Smoke("").Steps) + len(Smoke("/").Steps); got != 2 {
		t.Errorf("Smoke without a health path has %d steps, want 1 each", got)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer broken.Close()
	run := RunOnce(context.Background(), Smoke("/healthz"), Target{BaseURL: broken.URL})
	if run.Passed || run.Reason != "step 1 (GET /healthz): status 502, want below 500" {
		t.Errorf("smoke against a broken app: %q", run.Reason)
	}
}
