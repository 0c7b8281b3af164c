package testvalue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// event is one line of go test -json (see go doc test2json). Time stays a string:
// only the first one is parsed.
type event struct {
	Time        string
	Action      string
	Package     string
	ImportPath  string // build-output and build-fail events (Go 1.24+)
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// goTest is a test that has started and not ended yet.
type goTest struct {
	msg message
}

// ParseGo reads go test -json output. Each test end (pass, fail, skip) is a
// Result named "pkg.TestName"; a package that fails without a failing test (a
// build failure, a crash before any test) is one failed Result named after the
// package, with the build's or the package's output as its message. Lines that
// are not JSON (a CI's own log lines mixed in) are skipped, but a report with
// no event at all is an error.
func ParseGo(r io.Reader) (Summary, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	sum := Summary{Format: FormatGo}
	running := map[string]*goTest{}   // package + "\x00" + test
	pkgOut := map[string]*message{}   // package-level output, for a package failure
	buildOut := map[string]*message{} // build output by import path
	failedIn := map[string]bool{}     // packages with a failed test
	var long []byte                   // a line longer than the buffer
	lineNo := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			lineNo++
			if e := sum.goLine(line, lineNo, running, pkgOut, buildOut, failedIn); e != nil {
				return Summary{}, e
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return Summary{}, fmt.Errorf("read go test -json output: %w", err)
		}
	}
	if sum.Events == 0 {
		return Summary{}, fmt.Errorf("no go test -json event in %d lines: expected the output of go test -json: %w", lineNo, ErrInput)
	}
	return sum, nil
}

func (sum *Summary) goLine(line []byte, lineNo int, running map[string]*goTest, pkgOut, buildOut map[string]*message, failedIn map[string]bool) error {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' {
		return nil
	}
	var ev event
	if err := json.Unmarshal(t, &ev); err != nil {
		return fmt.Errorf("line %d is not a go test -json event (%v): %q: %w", lineNo, err, firstLine(t), ErrInput)
	}
	if ev.Action == "" {
		return fmt.Errorf("line %d has no Action: expected a go test -json event: %w", lineNo, ErrInput)
	}
	sum.Events++
	if sum.RanAt.IsZero() && ev.Time != "" {
		if tm, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
			sum.RanAt = tm.UTC()
		}
	}
	switch {
	case ev.Action == "build-output":
		m := buildOut[ev.ImportPath]
		if m == nil {
			m = &message{}
			buildOut[ev.ImportPath] = m
		}
		m.add(ev.Output)
	case ev.Test == "":
		sum.goPackage(ev, pkgOut, buildOut, failedIn)
	default:
		key := ev.Package + "\x00" + ev.Test
		switch ev.Action {
		case "run":
			running[key] = &goTest{}
		case "output":
			gt := running[key]
			if gt == nil || gt.msg.full() {
				return nil
			}
			if s := strings.TrimLeft(ev.Output, " "); strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
				return nil
			}
			gt.msg.add(ev.Output)
		case Pass, Fail, Skip:
			res := Result{Name: ev.Package + "." + ev.Test, Outcome: ev.Action,
				Duration: time.Duration(ev.Elapsed * float64(time.Second))}
			if gt := running[key]; gt != nil {
				if ev.Action == Fail {
					res.Message = gt.msg.String()
				}
				delete(running, key)
			}
			if ev.Action == Fail {
				failedIn[ev.Package] = true
			}
			sum.Results = append(sum.Results, res)
		}
	}
	return nil
}

// goPackage handles an event of a package rather than of a test.
func (sum *Summary) goPackage(ev event, pkgOut, buildOut map[string]*message, failedIn map[string]bool) {
	switch ev.Action {
	case "output":
		s := strings.TrimSpace(ev.Output)
		if s == "PASS" || s == "FAIL" || strings.HasPrefix(s, "ok ") || strings.HasPrefix(s, "FAIL\t") ||
			strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- ") {
			return
		}
		m := pkgOut[ev.Package]
		if m == nil {
			m = &message{}
			pkgOut[ev.Package] = m
		}
		m.add(ev.Output)
	case Pass, Fail, Skip:
		sum.Elapsed += time.Duration(ev.Elapsed * float64(time.Second))
		if ev.Action != Fail || failedIn[ev.Package] {
			return
		}
		var msg string
		if m := buildOut[ev.FailedBuild]; ev.FailedBuild != "" && m != nil {
			msg = "build failed: " + m.String()
		} else if ev.FailedBuild != "" {
			msg = "build failed"
		}
		if m := pkgOut[ev.Package]; m != nil {
			msg = boundMessage(msg, m.String())
		}
		sum.Results = append(sum.Results, Result{Name: ev.Package, Outcome: Fail,
			Duration: time.Duration(ev.Elapsed * float64(time.Second)), Message: msg})
	}
}
