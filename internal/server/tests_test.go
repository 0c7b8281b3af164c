package server

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/testvalue"
)

// commitsInRepo makes commits in a work tree and fetches them into the app's
// bare repository (a fetch runs no hook, so nothing is deployed). Each commit
// writes the given files; it returns the SHAs.
func (ts *testServer) commitsInRepo(app string, commits ...map[string]string) []string {
	ts.t.Helper()
	work := ts.t.TempDir()
	git := func(dir string, args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			ts.t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(work, "init", "--quiet", "--initial-branch=main")
	var shas []string
	for _, files := range commits {
		for p, body := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755); err != nil {
				ts.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, p), []byte(body), 0o644); err != nil {
				ts.t.Fatal(err)
			}
		}
		git(work, "add", "-A")
		git(work, "commit", "--quiet", "--allow-empty", "-m", "change")
		shas = append(shas, git(work, "rev-parse", "HEAD"))
	}
	git(ts.repoDir(app), "fetch", "--quiet", work, "+refs/heads/main:refs/heads/work")
	return shas
}

// goEvents is go test -json output of TestAdd with the given outcome.
func goEvents(outcome string) string {
	return goEventsAt(time.Now(), outcome)
}

// goEventsAt is goEvents of a run at a time.
func goEventsAt(at time.Time, outcome string) string {
	return fmt.Sprintf(`{"Time":"%s","Action":"start","Package":"example.com/notes"}
{"Action":"run","Package":"example.com/notes","Test":"TestAdd"}
{"Action":"output","Package":"example.com/notes","Test":"TestAdd","Output":"    add_test.go:9: Add(1, 1) = 3\n"}
{"Action":"%s","Package":"example.com/notes","Test":"TestAdd","Elapsed":2}
{"Action":"%s","Package":"example.com/notes","Elapsed":2.5}
`, at.UTC().Format(time.RFC3339Nano), outcome, outcome)
}

func TestTestIngestAndReport(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("notes")
	c := ts.commitsInRepo("notes",
		map[string]string{"add.go": "v1", "add_test.go": "t1"},
		map[string]string{"add.go": "v2 broken"},
		map[string]string{"add.go": "v3 fixed"})

	var res testvalue.IngestResult
	for i, outcome := range []string{"pass", "fail", "pass"} {
		r := ts.must(http.MethodPost, "/api/apps/notes/tests?commit="+c[i]+"&source=ci", goEvents(outcome), http.StatusCreated)
		decode(t, r, &res)
	}
	if res.App != "notes" || res.Commit != c[2] || res.Format != "go" || res.Tests != 1 || res.Runs != 1 || res.Failures != 0 ||
		res.WallNS != 2_500_000_000 || res.ID != 3 {
		t.Errorf("ingest result %+v", res)
	}
	// A JUnit report at the broken commit, with a wall time: a test that fails
	// and passes there is flaky.
	junit := `<testsuite name="it" time="3"><testcase classname="it.Cart" name="total" time="1"><failure message="timeout"/></testcase>
<testcase classname="it.Cart" name="total" time="1"/></testsuite>`
	r := ts.must(http.MethodPost, "/api/apps/notes/tests?commit="+c[1]+"&format=junit&wall=1m", junit, http.StatusCreated)
	decode(t, r, &res)
	if res.Format != "junit" || res.Tests != 1 || res.Runs != 2 || res.Failures != 1 || res.WallNS != 60e9 {
		t.Errorf("JUnit ingest result %+v", res)
	}

	r = ts.must(http.MethodGet, "/api/tests/report?app=notes&since=30d", nil, http.StatusOK)
	var raw []map[string]any
	decode(t, r, &raw)
	for _, e := range raw {
		for _, k := range []string{"kind", "name", "runs", "failures", "flaky", "flake_rate", "cost_seconds", "real_catches",
			"machine_seconds", "wait_seconds", "sentence"} {
			if _, ok := e[k]; !ok {
				t.Errorf("report entry lacks %q: %v", k, e)
			}
		}
	}
	var entries []testvalue.Entry
	decode(t, r, &entries)
	byName := map[string]testvalue.Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	add := byName["example.com/notes.TestAdd"]
	if add.Runs != 3 || add.Failures != 1 || add.RealCatches != 1 || add.Flaky || add.WaitSeconds != 7.5 || add.MachineSeconds != 6 {
		t.Errorf("TestAdd: %+v", add)
	}
	cart := byName["it.Cart.total"]
	if !cart.Flaky || cart.RealCatches != 0 || cart.CostSeconds != 60 || cart.Sentence != "30 days: 1 min of waiting, 0 real catches, flaky 100%" {
		t.Errorf("it.Cart.total: %+v", cart)
	}
	if len(entries) != 2 || entries[0].Name != "it.Cart.total" {
		t.Errorf("report order: %+v", entries)
	}
	// All apps by default; the window (90 days) leaves out older reports.
	ts.createApp("other")
	ts.must(http.MethodPost, "/api/apps/other/tests?commit=abcd", goEventsAt(time.Now().Add(-100*24*time.Hour), "fail"), http.StatusCreated)
	ts.must(http.MethodPost, "/api/apps/other/tests?commit=abcd", strings.ReplaceAll(goEvents("pass"), "TestAdd", "TestNew"), http.StatusCreated)
	r = ts.must(http.MethodGet, "/api/tests/report", nil, http.StatusOK)
	var all []testvalue.Entry
	decode(t, r, &all)
	if len(all) != 3 || all[1].App != "other" || all[1].Name != "example.com/notes.TestNew" || all[1].Failures != 0 {
		t.Errorf("report of all apps: %+v", all)
	}
}

func TestTestIngestErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("notes")
	good := "?commit=abcdef1"
	small := maxTestReportBytes
	t.Cleanup(func() { maxTestReportBytes = small })
	maxTestReportBytes = 1 << 10
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"unknown app", "POST", "/api/apps/nope/tests" + good, goEvents("pass"), 404, `unknown app "nope"`},
		{"no commit", "POST", "/api/apps/notes/tests", goEvents("pass"), 400, `commit "" is not a commit SHA`},
		{"branch for a commit", "POST", "/api/apps/notes/tests?commit=main", goEvents("pass"), 400, `commit "main" is not a commit SHA`},
		{"bad format", "POST", "/api/apps/notes/tests" + good + "&format=tap", goEvents("pass"), 400, `format "tap" is not known`},
		{"bad wall", "POST", "/api/apps/notes/tests" + good + "&wall=long", goEvents("pass"), 400, `wall "long" is not a duration`},
		{"plain text", "POST", "/api/apps/notes/tests" + good, "ok  \texample.com/notes\t0.1s\n", 400, "expected go test -json output"},
		{"empty", "POST", "/api/apps/notes/tests" + good, "", 400, "input is empty"},
		{"JSON of the wrong format", "POST", "/api/apps/notes/tests" + good + "&format=junit", goEvents("pass"), 400, "expected JUnit XML"},
		{"cut short", "POST", "/api/apps/notes/tests" + good, goEvents("pass") + `{"Action":"pa`, 400, "line 6 is not a go test -json event"},
		{"no result", "POST", "/api/apps/notes/tests" + good, `{"Action":"start","Package":"x"}` + "\n", 400, "holds no test result"},
		{"too large", "POST", "/api/apps/notes/tests" + good, strings.Repeat(goEvents("pass"), 10), 413, "larger than 0 MiB"},
		{"report of an unknown app", "GET", "/api/tests/report?app=nope", "", 404, `unknown app "nope"`},
		{"report since bad", "GET", "/api/tests/report?since=forever", "", 400, `since "forever" is not a window`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := ts.call(tc.method, tc.path, ts.token, body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if msg, _ := r.apiError(t); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
		})
	}
	// Nothing of a refused report was stored.
	runs, err := ts.store.TestRuns(t.Context(), store.TestRunQuery{})
	if err != nil || len(runs) != 0 {
		t.Errorf("refused reports left %d runs (%v)", len(runs), err)
	}
	if r := ts.call("POST", "/api/apps/notes/tests"+good, "", goEvents("pass")); r.status != http.StatusUnauthorized {
		t.Errorf("ingest without a token: %d", r.status)
	}
}
