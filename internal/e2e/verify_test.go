package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/store"
)

// orderApp is a Go app whose /api/order answers JSON with a total, plus noise
// fields a release cannot keep equal: the time and a random id.
const orderApp = `package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"time"
)

const total = TOTAL

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/api/order", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		rand.Read(b)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"total": total, "currency": "EUR", "now": time.Now().Format(time.RFC3339Nano), "request_id": hex.EncodeToString(b),
		})
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`

const orderBot = `name: check an order
every: 200ms
cost_of_failure: 25 EUR
steps:
  - get: /api/order
    expect: {status: 200, json: {$.currency: EUR}}
`

func (r *repo) orderApp(total string) {
	r.t.Helper()
	r.write("go.mod", "module example.com/orders\n\ngo 1.22\n")
	r.write("prosper.yaml", "health: /healthz\nverify: {window: 2s, min_requests: 20, grace: 3s, gates: {p95: +50ms, p99: +50ms}}\n")
	r.write("bots/order.yaml", orderBot)
	r.write("main.go", strings.ReplaceAll(orderApp, "TOTAL", total))
}

// TestPushShowsTheVerdict pushes through mirror production with the real binary
// and git: a harmless change with noisy fields is promoted, a change of a JSON
// value is rejected with its path named, and the push says so.
func TestPushShowsTheVerdict(t *testing.T) {
	p := startPlatform(t)
	p.createApp("orders")
	r := newRepo(t)
	r.orderApp("10")
	r.commit("v1")
	r.mustPush(p.remote("orders"))
	l := startLoad(p, "orders", "/api/order", 2)

	// A refactor: same answers, different code.
	r.write("main.go", strings.ReplaceAll(orderApp, "const total = TOTAL", "const total = 5 + 5"))
	r.commit("refactor")
	out := r.mustPush(p.remote("orders"))
	for _, want := range []string{"mirror production", "verifying v2", "PROMOTED v2", "v2 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of a refactor does not say %q:\n%s", want, out)
		}
	}

	// A changed value: rejected, the branch stays, v2 keeps serving.
	r.orderApp("11")
	r.commit("wrong total")
	out, err := r.push(p.remote("orders"), "main")
	if err == nil {
		t.Fatalf("a release that changes $.total was accepted:\n%s", out)
	}
	for _, want := range []string{"REJECTED v3", "$.total", "GET /api/order", "v2 stays live"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output does not say %q:\n%s", want, out)
		}
	}
	if ok, failures := l.finish(); len(failures) > 0 || ok < 100 {
		t.Fatalf("%d of %d live requests failed during verification: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	if _, body, rel, _ := p.get("orders", "/api/order"); rel != "v2" || !strings.Contains(body, `"total":10`) {
		t.Fatalf("live answer after the rejection: %s from %s", body, rel)
	}

	rels := p.releases("orders")
	if rels[0].Version != 3 || rels[0].Status != store.StatusRejected || !strings.Contains(strings.Join(rels[0].Reasons, "\n"), "$.total") {
		t.Fatalf("v3 = %s %q; want rejected naming $.total", rels[0].Status, rels[0].Reasons)
	}
	var rep struct {
		State   string `json:"state"`
		Verdict struct {
			Gates []struct {
				Name   string `json:"name"`
				Passed bool   `json:"passed"`
			} `json:"gates"`
		} `json:"verdict"`
		Differences struct {
			Total int `json:"total"`
		} `json:"differences"`
	}
	if err := json.Unmarshal([]byte(p.mustProsper("verify", "status", "orders", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, g := range rep.Verdict.Gates {
		failed[g.Name] = !g.Passed
	}
	if rep.State != "rejected" || !failed["diff_rate"] || failed["error_rate"] || rep.Differences.Total < 20 {
		t.Errorf("verify status = %+v", rep)
	}
	text := p.mustProsper("verify", "status", "orders")
	for _, want := range []string{"REJECTED", "diff_rate", "$.total", "check an order"} {
		if !strings.Contains(text, want) {
			t.Errorf("verify status does not show %q:\n%s", want, text)
		}
	}
	var runs []store.BotRun
	p.apiGet("/api/apps/orders/bots?target=candidate", &runs)
	if len(runs) == 0 {
		t.Error("no bot run on the candidate was recorded")
	}
	// Nothing is being verified now: the commands say so rather than pretend.
	if out, err := p.prosper("verify", "promote", "orders"); err == nil || !strings.Contains(out, "no release of this app is in mirror production") {
		t.Errorf("verify promote with nothing in mirror production: %v\n%s", err, out)
	}
	t.Logf("push output of the rejected release:\n%s", out)
}
