// Command testingestbench measures how fast prosper ingests go test -json
// output: parsing alone, and parsing plus storing the runs in SQLite in one
// transaction, as POST /api/apps/{app}/tests does. It prints the median of
// several runs in events per second.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/testvalue"
)

func main() {
	runs := flag.Int("runs", 5, "runs of each measure; the median is reported")
	tests := flag.Int("tests", 40000, "tests in the generated output (6 events each, subtests included)")
	flag.Parse()
	if err := run(*runs, *tests); err != nil {
		fmt.Fprintln(os.Stderr, "testingest:", err)
		os.Exit(1)
	}
}

func run(runs, tests int) error {
	data := generate(tests)
	sum, err := testvalue.ParseGo(bytes.NewReader(data))
	if err != nil {
		return err
	}
	fmt.Printf("input: %d tests, %d events, %d results, %.1f MiB of go test -json\n",
		tests, sum.Events, len(sum.Results), float64(len(data))/(1<<20))

	parse := make([]float64, 0, runs)
	for range runs {
		start := time.Now()
		if _, err := testvalue.ParseGo(bytes.NewReader(data)); err != nil {
			return err
		}
		parse = append(parse, float64(sum.Events)/time.Since(start).Seconds())
	}

	dir, err := os.MkdirTemp("", "testingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "prosper.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.CreateApp(ctx, store.App{Name: "bench"}); err != nil {
		return err
	}
	ingest := make([]float64, 0, runs)
	for i := range runs {
		start := time.Now()
		s, err := testvalue.Parse(bytes.NewReader(data), testvalue.FormatAuto)
		if err != nil {
			return err
		}
		rs := make([]store.TestRun, len(s.Results))
		for j, r := range s.Results {
			rs[j] = store.TestRun{Name: r.Name, Outcome: r.Outcome, Duration: r.Duration, Message: r.Message}
		}
		if _, err := st.RecordTestIngest(ctx, store.TestIngest{App: "bench", Commit: fmt.Sprintf("%040x", i),
			Format: s.Format, Wall: s.Elapsed, RanAt: s.RanAt}, rs); err != nil {
			return err
		}
		ingest = append(ingest, float64(sum.Events)/time.Since(start).Seconds())
	}
	fmt.Printf("parse:            median %s events/s (runs: %s)\n", thousands(median(parse)), list(parse))
	fmt.Printf("parse and store:  median %s events/s (runs: %s)\n", thousands(median(ingest)), list(ingest))
	target := "met"
	if median(ingest) < 100000 {
		target = "MISSED"
	}
	fmt.Printf("target 100,000 events/s for parse and store: %s\n", target)
	return nil
}

// generate writes go test -json output shaped like a real suite's: per test,
// run, "=== RUN", a log line, "--- PASS", the end; every tenth test has a
// subtest, one in 97 fails with a message.
func generate(tests int) []byte {
	var b bytes.Buffer
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range tests {
		pkg := fmt.Sprintf("example.com/app/internal/pkg%d", i%60)
		name := fmt.Sprintf("TestCase%d", i)
		if i%10 == 0 {
			name += "/sub"
		}
		outcome := "pass"
		if i%97 == 0 {
			outcome = "fail"
		}
		fmt.Fprintf(&b, `{"Time":"%s","Action":"run","Package":"%s","Test":"%s"}`+"\n", ts, pkg, name)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"=== RUN   %s\n"}`+"\n", ts, pkg, name, name)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"    case_test.go:42: checked %d rows\n"}`+"\n", ts, pkg, name, i)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"output","Package":"%s","Test":"%s","Output":"--- %s: %s (0.01s)\n"}`+"\n", ts, pkg, name, strings.ToUpper(outcome), name)
		fmt.Fprintf(&b, `{"Time":"%s","Action":"%s","Package":"%s","Test":"%s","Elapsed":0.01}`+"\n", ts, outcome, pkg, name)
		if i%60 == 59 {
			fmt.Fprintf(&b, `{"Time":"%s","Action":"pass","Package":"%s","Elapsed":1.2}`+"\n", ts, pkg)
		}
	}
	return b.Bytes()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func list(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = thousands(x)
	}
	return strings.Join(parts, ", ")
}

// thousands writes a rate rounded to a whole number with thousands separators.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
