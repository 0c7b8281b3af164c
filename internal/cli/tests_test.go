package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/testvalue"
)

func TestTestsCommands(t *testing.T) {
	startPlatform(t)
	ok(t, "app", "create", "notes")
	now := time.Now().UTC().Format(time.RFC3339Nano)
	goOut := `{"Time":"` + now + `","Action":"run","Package":"example.com/notes","Test":"TestAdd"}
{"Action":"output","Package":"example.com/notes","Test":"TestAdd","Output":"    add_test.go:9: Add(1, 1) = 3\n"}
{"Action":"fail","Package":"example.com/notes","Test":"TestAdd","Elapsed":1.5}
{"Action":"run","Package":"example.com/notes","Test":"TestSlow"}
{"Action":"pass","Package":"example.com/notes","Test":"TestSlow","Elapsed":30}
{"Action":"fail","Package":"example.com/notes","Elapsed":32}
`
	file := filepath.Join(t.TempDir(), "go-test.json")
	if err := os.WriteFile(file, []byte(goOut), 0o644); err != nil {
		t.Fatal(err)
	}
	out := ok(t, "tests", "ingest", "--app", "notes", "--commit", "abcdef1234", "--wall", "10m", "--source", "ci", file)
	if want := "notes at abcdef1234: 2 tests, 2 runs, 1 failed (go report, ingest 1)"; !strings.Contains(out, want) {
		t.Errorf("ingest said %q, want %q", out, want)
	}

	// From stdin, JUnit, at the same commit: TestAdd passes there, so it is flaky.
	junit := `<testsuites><testsuite name="x" time="2"><testcase classname="example.com/notes" name="TestAdd" time="1"/></testsuite></testsuites>`
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"tests", "ingest", "--app", "notes", "--commit", "abcdef1234", "-"}, strings.NewReader(junit), &stdout, &stderr); code != 0 {
		t.Fatalf("ingest from stdin: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "1 tests, 1 runs, 0 failed (junit report, ingest 2)") {
		t.Errorf("stdin ingest said %q", stdout.String())
	}

	var entries []testvalue.Entry
	if err := json.Unmarshal([]byte(ok(t, "tests", "report", "--app", "notes", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "example.com/notes.TestSlow" || entries[0].WaitSeconds < 560 {
		t.Fatalf("report: %+v", entries)
	}
	if add := entries[1]; add.Name != "example.com/notes.TestAdd" || add.Runs != 2 || add.Failures != 1 || !add.Flaky || add.FlakeRate != 1 {
		t.Errorf("TestAdd: %+v", add)
	}

	table := ok(t, "tests", "report", "--since", "7d")
	for _, want := range []string{"APP", "NAME", "WAITING", "notes", "example.com/notes.TestSlow", "100%",
		"example.com/notes.TestSlow: 7 days: 10 min of waiting, 0 real catches, never flaky",
		"example.com/notes.TestAdd: 7 days:"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if out := ok(t, "tests", "report", "--since", "1h", "--app", "notes"); strings.Contains(out, "no test report") {
		t.Errorf("report of the last hour: %s", out)
	}
}

func TestTestsCommandErrors(t *testing.T) {
	startPlatform(t)
	ok(t, "app", "create", "notes")
	missing := filepath.Join(t.TempDir(), "nope.xml")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"tests", "ingest", "--commit", "abcd"}, []string{"which app? pass --app NAME"}},
		{[]string{"tests", "ingest", "--app", "notes"}, []string{"pass --commit SHA"}},
		{[]string{"tests", "ingest", "--app", "notes", "--commit", "abcd", missing}, []string{"open the test report", "nope.xml"}},
		{[]string{"tests", "ingest", "--app", "notes", "--commit", "HEAD"}, []string{`commit "HEAD" is not a commit SHA`, "git rev-parse HEAD"}},
		{[]string{"tests", "ingest", "--app", "notes", "--commit", "abcd"}, []string{"input is empty", "go test -json"}},
		{[]string{"tests", "ingest", "--app", "shop", "--commit", "abcd"}, []string{`unknown app "shop"`}},
		{[]string{"tests", "ingest", "--app", "notes", "--commit", "abcd", "--format", "tap"}, []string{`format "tap" is not known`}},
		{[]string{"tests", "ingest", "--app", "notes", "--commit", "abcd", "a", "b"}, []string{"usage: prosper tests ingest"}},
		{[]string{"tests", "report", "--since", "soon"}, []string{`since "soon" is not a window`, "90d"}},
		{[]string{"tests", "report", "-o", "yaml"}, []string{`output format "yaml"`}},
		{[]string{"tests", "report", "--app", "shop"}, []string{`unknown app "shop"`}},
		{[]string{"tests", "rport"}, []string{`unknown command "rport"`, "did you mean report?"}},
	} {
		fails(t, tc.want, tc.args...)
	}
	if out := ok(t, "tests", "report"); !strings.Contains(out, "no test report in the window") {
		t.Errorf("empty report said %q", out)
	}
}

func TestPrintTestReport(t *testing.T) {
	per := 120.0
	entries := []testvalue.Entry{
		{Kind: testvalue.KindTest, App: "shop", Name: "p.TestHaunted", Runs: 90, Failures: 20, Flaky: true, FlakeRate: 0.22,
			WaitSeconds: 50400, Sentence: "90 days: 14 h of waiting, 0 real catches, flaky 22%"},
		{Kind: testvalue.KindTest, App: "shop", Name: "p.TestAdd", Runs: 90, Failures: 1, WaitSeconds: 120, RealCatches: 1,
			CostPerCatchSeconds: &per, Sentence: "90 days: 2 min of waiting, 1 real catch, never flaky"},
		{Kind: testvalue.KindBot, App: "shop", Name: "book a room", Runs: 4000, Failures: 12, RealCatches: 2,
			CaughtCost: 480, CaughtCurrency: "EUR", Sentence: "90 days: 4000 runs in mirror production"},
	}
	var b bytes.Buffer
	if err := printTestReport(&b, entries, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for i, want := range []string{"NAME", "p.TestHaunted  test  90", "p.TestAdd", "book a room"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want)
		}
	}
	for _, want := range []string{"22%", "14h0m0s", "2 (480 EUR)", "2m0s", "p.TestHaunted: 90 days: 14 h of waiting, 0 real catches, flaky 22%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(lines[0], "APP") {
		t.Error("the table of one app shows an APP column")
	}
}
