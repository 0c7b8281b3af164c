package testvalue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// goModule is a tiny module whose tests pass, fail, skip, have subtests, and
// one package of which does not build.
var goModule = map[string]string{
	"go.mod": "module example.com/notes\n\ngo 1.22\n",
	"add.go": "package notes\n\nfunc Add(a, b int) int { return a + b }\n",
	"add_test.go": `package notes

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 2) != 3 {
		t.Fatal("1+2 != 3")
	}
}

func TestBroken(t *testing.T) {
	t.Log("computing")
	if got := Add(1, 1); got != 3 {
		t.Errorf("Add(1, 1) = %d, want 3", got)
	}
}

func TestNetwork(t *testing.T) { t.Skip("needs the network") }

func TestTable(t *testing.T) {
	t.Run("small", func(t *testing.T) {})
	t.Run("large", func(t *testing.T) { t.Error("overflow") })
}
`,
	"broken/broken.go":      "package broken\n\nfunc F() int { return undefinedName }\n",
	"broken/broken_test.go": "package broken\n\nimport \"testing\"\n\nfunc TestF(t *testing.T) { F() }\n",
}

var (
	goOutputOnce sync.Once
	goOutput     []byte
	goOutputErr  error
)

// realGoOutput runs go test -json on goModule once and returns its output.
func realGoOutput(t testing.TB) []byte {
	t.Helper()
	goOutputOnce.Do(func() {
		dir, err := os.MkdirTemp("", "testvalue-gomod-")
		if err != nil {
			goOutputErr = err
			return
		}
		defer os.RemoveAll(dir)
		for name, body := range goModule {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				goOutputErr = err
				return
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				goOutputErr = err
				return
			}
		}
		cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		goOutput, err = cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			goOutputErr = fmt.Errorf("go test: %v: %s", err, stderr.String())
		}
		if err == nil {
			goOutputErr = errors.New("go test passed, but the module has failing tests")
		}
	})
	if goOutputErr != nil {
		t.Fatal(goOutputErr)
	}
	return goOutput
}

func TestParseGoOnRealOutput(t *testing.T) {
	out := realGoOutput(t)
	for _, format := range []string{FormatGo, FormatAuto} {
		sum, err := Parse(bytes.NewReader(out), format)
		if err != nil {
			t.Fatalf("Parse(%s): %v\n%s", format, err, out)
		}
		got := map[string]Result{}
		for _, r := range sum.Results {
			if _, dup := got[r.Name]; dup {
				t.Errorf("%s reported twice", r.Name)
			}
			got[r.Name] = r
		}
		want := map[string]string{
			"example.com/notes.TestAdd":         Pass,
			"example.com/notes.TestBroken":      Fail,
			"example.com/notes.TestNetwork":     Skip,
			"example.com/notes.TestTable":       Fail,
			"example.com/notes.TestTable/small": Pass,
			"example.com/notes.TestTable/large": Fail,
			"example.com/notes/broken":          Fail,
		}
		if len(got) != len(want) {
			t.Errorf("%d results, want %d: %+v", len(got), len(want), sum.Results)
		}
		for name, outcome := range want {
			if r, ok := got[name]; !ok || r.Outcome != outcome {
				t.Errorf("%s = %+v, want outcome %s", name, r, outcome)
			}
		}
		if m := got["example.com/notes.TestBroken"].Message; !strings.Contains(m, "Add(1, 1) = 2, want 3") ||
			!strings.Contains(m, "computing") || strings.Contains(m, "--- FAIL") || strings.Contains(m, "=== RUN") {
			t.Errorf("TestBroken's message = %q", m)
		}
		if m := got["example.com/notes.TestTable/large"].Message; !strings.Contains(m, "overflow") {
			t.Errorf("subtest message = %q", m)
		}
		if m := got["example.com/notes/broken"].Message; !strings.Contains(m, "undefinedName") {
			t.Errorf("build failure message = %q", m)
		}
		if m := got["example.com/notes.TestAdd"].Message; m != "" {
			t.Errorf("a passed test keeps a message: %q", m)
		}
		if sum.Format != FormatGo || sum.Events < 10 || sum.RanAt.IsZero() || time.Since(sum.RanAt) > time.Hour {
			t.Errorf("summary: format %s, %d events, ran at %s", sum.Format, sum.Events, sum.RanAt)
		}
		if tests, runs, failures := sum.Counts(); tests != 7 || runs != 7 || failures != 4 {
			t.Errorf("Counts = %d tests, %d runs, %d failures", tests, runs, failures)
		}
	}
}

func TestParseGoBadInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "input is empty"},
		{"blank", "\n  \n", "input is empty"},
		{"plain go test", "=== RUN   TestAdd\n--- PASS: TestAdd (0.00s)\n", "expected go test -json output"},
		{"broken JSON", `{"Action":"run","Test":"TestA"}` + "\n" + `{"Action":"pass",` + "\n", "line 2 is not a go test -json event"},
		{"JSON but not events", `{"name":"x"}` + "\n", "line 1 has no Action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), FormatAuto)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want ErrInput with %q", err, tc.want)
			}
		})
	}
	if _, err := Parse(strings.NewReader("PASS\nok  \tx\t0.1s\n"), FormatGo); !errors.Is(err, ErrInput) ||
		!strings.Contains(err.Error(), "no go test -json event in 2 lines") {
		t.Errorf("ParseGo of plain output = %v", err)
	}
	if _, err := Parse(strings.NewReader("{}"), "tap"); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "want auto, go or junit") {
		t.Errorf("Parse of an unknown format = %v", err)
	}
}

func TestParseGoKeepsMessagesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"Action":"run","Package":"p","Test":"TestLoud"}` + "\n")
	for i := range 500 {
		fmt.Fprintf(&b, `{"Action":"output","Package":"p","Test":"TestLoud","Output":"    line %d %s\n"}`+"\n", i, strings.Repeat("x", 300))
	}
	// A line longer than the reader's buffer is one event too.
	fmt.Fprintf(&b, `{"Action":"output","Package":"p","Test":"TestLoud","Output":"%s\n"}`+"\n", strings.Repeat("y", 200<<10))
	b.WriteString(`{"Action":"fail","Package":"p","Test":"TestLoud","Elapsed":1.5}` + "\n")
	sum, err := ParseGo(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Results) != 1 {
		t.Fatalf("results: %+v", sum.Results)
	}
	r := sum.Results[0]
	if r.Name != "p.TestLoud" || r.Outcome != Fail || r.Duration != 1500*time.Millisecond {
		t.Errorf("result = %s %s %s", r.Name, r.Outcome, r.Duration)
	}
	if len(r.Message) > maxMessageBytes || strings.Count(r.Message, "\n") >= maxMessageLines || !strings.HasPrefix(r.Message, "    line 0 ") {
		t.Errorf("message of %d bytes, %d lines: %.80q", len(r.Message), strings.Count(r.Message, "\n")+1, r.Message)
	}
	if sum.Events != 503 {
		t.Errorf("events = %d, want 503", sum.Events)
	}
}

// syntheticGoOutput is go test -json output of n tests of p packages, each
// test with run, two output lines, its end and its output line ("--- PASS").
func syntheticGoOutput(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		pkg := fmt.Sprintf("example.com/app/pkg%d", i%50)
		test := fmt.Sprintf("TestCase%d", i)
		ts := "2026-03-02T10:15:30.123456789Z"
		fmt.Fprintf(&b, `{"Time":"%s","Action":"run","Package":"%s","Test":"%s"}`+"\n", ts, pkg, test)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"=== RUN   %s\n"}`+"\n", ts, pkg, test, test)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"    case_test.go:42: checking %d rows\n"}`+"\n", ts, pkg, test, i)
		outcome := "pass"
		if i%97 == 0 {
			outcome = "fail"
		}
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"--- %s: %s (0.01s)\n"}`+"\n", ts, pkg, test, strings.ToUpper(outcome), test)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"%s","Package":"%s","Test":"%s","Elapsed":0.01}`+"\n", ts, outcome, pkg, test)
	}
	return b.Bytes()
}

// BenchmarkParseGo measures go test -json events parsed per second; the target
// is 100k.
func BenchmarkParseGo(b *testing.B) {
	data := syntheticGoOutput(20000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	events := 0
	for b.Loop() {
		sum, err := ParseGo(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		events += sum.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
