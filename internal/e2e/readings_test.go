package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeliveryReadings pushes real releases through the platform — promoted,
// rejected in mirror production, rolled back — and checks the DORA readings
// prosper gives, then ingests a real `go test -json` run and reads the test
// report.
func TestDeliveryReadings(t *testing.T) {
	p := startPlatform(t)
	p.createApp("orders")
	r := newRepo(t)
	r.orderApp("10")
	r.commit("v1")
	r.mustPush(p.remote("orders"))
	l := startLoad(p, "orders", "/api/order", 1)
	r.write("main.go", strings.ReplaceAll(orderApp, "const total = TOTAL", "const total = 5 + 5"))
	r.commit("refactor")
	r.mustPush(p.remote("orders"))
	r.orderApp("11")
	r.commit("wrong total")
	if out, err := r.push(p.remote("orders"), "main"); err == nil {
		t.Fatalf("the wrong total was promoted:\n%s", out)
	}
	l.finish()
	p.mustProsper("rollback", "orders")

	var m struct {
		DeploymentFrequency struct {
			PerDay float64 `json:"per_day"`
			Bucket string  `json:"bucket"`
		} `json:"deployment_frequency"`
		LeadTime struct {
			MedianSeconds float64 `json:"median_seconds"`
			Samples       int     `json:"samples"`
			Bucket        string  `json:"bucket"`
		} `json:"lead_time"`
		ChangeFailureRate struct {
			Value  float64 `json:"value"`
			Bucket string  `json:"bucket"`
		} `json:"change_failure_rate"`
		RecoveryTime struct {
			MedianSeconds float64 `json:"median_seconds"`
			Bucket        string  `json:"bucket"`
		} `json:"recovery_time"`
		ReworkRate struct {
			Value *float64 `json:"value"`
		} `json:"rework_rate"`
		Caught      int `json:"caught_before_production"`
		Deployments int `json:"deployments"`
		Window      struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"window"`
	}
	out := p.mustProsper("dora", "--app", "orders", "--since", "1d", "-o", "json")
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// v1 and v2 promoted, v3 caught by the mirror, v2 rolled back: one of two
	// promotions failed, recovered by the rollback; every commit that went live
	// was made seconds before.
	if m.Deployments != 2 || m.Caught != 1 || m.ChangeFailureRate.Value != 0.5 || m.ChangeFailureRate.Bucket != "low" ||
		m.LeadTime.Samples != 2 || m.LeadTime.Bucket != "elite" || m.RecoveryTime.Bucket != "elite" ||
		m.RecoveryTime.MedianSeconds <= 0 || m.DeploymentFrequency.Bucket != "elite" || m.ReworkRate.Value == nil || m.Window.From == "" {
		t.Fatalf("prosper dora -o json:\n%s", out)
	}
	text := p.mustProsper("dora", "--app", "orders")
	for _, want := range []string{"2 deployments", "1 releases caught before production", "change failure rate", "50.0%"} {
		if !strings.Contains(text, want) {
			t.Errorf("prosper dora does not show %q:\n%s", want, text)
		}
	}

	// A real CI run's output, ingested and reported.
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":       "module example.com/calc\n\ngo 1.22\n",
		"calc.go":      "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
		"calc_test.go": "package calc\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 2) != 4 {\n\t\tt.Fatal(\"2+2\")\n\t}\n}\n\nfunc TestBroken(t *testing.T) { t.Fatal(\"always\") }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "./...")
	cmd.Dir = mod
	report, _ := cmd.Output() // TestBroken fails: the exit status is 1
	if err := os.WriteFile(filepath.Join(mod, "report.json"), report, 0o644); err != nil {
		t.Fatal(err)
	}
	sha := strings.TrimSpace(r.git("rev-parse", "HEAD~1"))
	p.mustProsper("tests", "ingest", "--app", "orders", "--commit", sha, filepath.Join(mod, "report.json"))
	var tests []struct {
		Name     string `json:"name"`
		Kind     string `json:"kind"`
		Runs     int    `json:"runs"`
		Failures int    `json:"failures"`
	}
	out = p.mustProsper("tests", "report", "--app", "orders", "-o", "json")
	if err := json.Unmarshal([]byte(out), &tests); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]int{}
	bots := 0
	for _, tt := range tests {
		got[tt.Name] = tt.Failures
		if tt.Kind == "bot" && tt.Runs > 0 {
			bots++
		}
	}
	if bots == 0 {
		t.Errorf("the bot journeys of mirror production are not beside the tests:\n%s", out)
	}
	if f, ok := got["example.com/calc.TestBroken"]; !ok || f != 1 || got["example.com/calc.TestAdd"] != 0 {
		t.Fatalf("tests report:\n%s", out)
	}
}
