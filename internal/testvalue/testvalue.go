// Package testvalue reads test results from CI output (go test -json and JUnit
// XML) and weighs each test's cost against the bugs it caught.
//
// Parsing is streaming: a report of hundreds of megabytes is read once, event by
// event, and only one Result per test execution is kept.
package testvalue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Formats of test output.
const (
	FormatAuto  = "auto"
	FormatGo    = "go"    // go test -json (test2json events, one JSON object a line)
	FormatJUnit = "junit" // JUnit XML: pytest, Jest, Maven surefire and most CIs
)

// Outcomes of one test execution.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// ErrInput is returned when the input is not test output of the expected format.
var ErrInput = errors.New("not test output")

// Limits of the failure message kept per failed run: its first lines are what
// tells a person why, and the rest would only make the store grow.
const (
	maxMessageLines = 10
	maxMessageBytes = 2048
)

// Result is one execution of one test.
type Result struct {
	// Name is "pkg.TestName" for Go ("example.com/notes.TestAdd/sub" for a
	// subtest) and "classname.name" for JUnit.
	Name     string
	Outcome  string // Pass, Fail or Skip
	Duration time.Duration
	Message  string // the first lines of a failure's output, bounded
}

// Summary is what one test report held.
type Summary struct {
	Format  string
	Results []Result
	// Elapsed is the suite's own measure of its length: the sum of the packages'
	// elapsed times for Go, of the top-level suites' times for JUnit.
	Elapsed time.Duration
	// RanAt is the earliest time the report carries (zero when it has none).
	RanAt  time.Time
	Events int // events (Go) or test cases (JUnit) read
}

// Counts returns the number of tests (distinct names), runs and failures.
func (s Summary) Counts() (tests, runs, failures int) {
	names := make(map[string]struct{}, len(s.Results))
	for _, r := range s.Results {
		names[r.Name] = struct{}{}
		runs++
		if r.Outcome == Fail {
			failures++
		}
	}
	return len(names), runs, failures
}

// Parse reads a report in format (FormatAuto or "" detects it from the first
// bytes: '{' is go test -json, '<' is JUnit XML).
func Parse(r io.Reader, format string) (Summary, error) {
	er := &errReader{r: r}
	sum, err := parse(bufio.NewReaderSize(er, 64<<10), format)
	if err != nil && er.err != nil {
		// The input broke off (a client gone, a size limit): that, rather than
		// the half line it left, is what went wrong.
		return Summary{}, fmt.Errorf("read test output: %w", er.err)
	}
	return sum, err
}

// errReader remembers the first error of r other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

func parse(br *bufio.Reader, format string) (Summary, error) {
	switch format {
	case FormatGo:
		return ParseGo(br)
	case FormatJUnit:
		return ParseJUnit(br)
	case "", FormatAuto:
	default:
		return Summary{}, fmt.Errorf("format %q: want auto, go or junit: %w", format, ErrInput)
	}
	f, err := Detect(br)
	if err != nil {
		return Summary{}, err
	}
	if f == FormatGo {
		return ParseGo(br)
	}
	return ParseJUnit(br)
}

// Detect peeks at the first non-blank bytes of br to tell the format.
func Detect(br *bufio.Reader) (string, error) {
	for n := 64; ; n *= 2 {
		b, err := br.Peek(n)
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
			switch t[0] {
			case '{':
				return FormatGo, nil
			case '<':
				return FormatJUnit, nil
			}
			return "", fmt.Errorf("input starts with %q: expected go test -json output (lines of JSON) or JUnit XML: %w",
				firstLine(t), ErrInput)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				return "", fmt.Errorf("input is empty: expected go test -json output or JUnit XML: %w", ErrInput)
			}
			return "", fmt.Errorf("read test output: %w", err)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// message keeps the first lines of a failure's output within the limits.
type message struct {
	b     strings.Builder
	lines int
}

// add appends one line (with or without its newline) unless the message is full.
func (m *message) add(line string) {
	line = strings.TrimRight(line, "\r\n")
	if m.lines >= maxMessageLines || m.b.Len() >= maxMessageBytes || strings.TrimSpace(line) == "" {
		return
	}
	if m.lines > 0 {
		m.b.WriteByte('\n')
	}
	if room := maxMessageBytes - m.b.Len(); len(line) > room {
		line = line[:room]
	}
	m.b.WriteString(line)
	m.lines++
}

func (m *message) full() bool { return m.lines >= maxMessageLines || m.b.Len() >= maxMessageBytes }

func (m *message) String() string { return m.b.String() }

// boundMessage cuts a whole text to the message limits.
func boundMessage(parts ...string) string {
	var m message
	for _, p := range parts {
		for line := range strings.Lines(p) {
			if m.full() {
				return m.String()
			}
			m.add(line)
		}
	}
	return m.String()
}

// IngestResult is the answer to an ingest of a test report.
type IngestResult struct {
	ID       int64  `json:"id"` // the ingest's
	App      string `json:"app"`
	Commit   string `json:"commit"`
	Format   string `json:"format"`
	Tests    int    `json:"tests"` // distinct test names
	Runs     int    `json:"runs"`  // results, skipped ones included
	Failures int    `json:"failures"`
	WallNS   int64  `json:"wall_ns"` // the waiting time recorded for the suite
}
