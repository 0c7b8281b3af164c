package testvalue

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// junitCase is a <testcase>. Maven surefire adds flakyFailure/flakyError (failed,
// then passed on a rerun) and rerunFailure/rerunError (failed on reruns too).
type junitCase struct {
	Classname    string         `xml:"classname,attr"`
	Name         string         `xml:"name,attr"`
	Time         string         `xml:"time,attr"`
	Failures     []junitProblem `xml:"failure"`
	Errors       []junitProblem `xml:"error"`
	Skipped      *junitProblem  `xml:"skipped"`
	FlakyFailure []junitProblem `xml:"flakyFailure"`
	FlakyError   []junitProblem `xml:"flakyError"`
	RerunFailure []junitProblem `xml:"rerunFailure"`
	RerunError   []junitProblem `xml:"rerunError"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func (p junitProblem) text() string {
	head := p.Message
	if p.Type != "" && !strings.Contains(head, p.Type) {
		head = strings.TrimSpace(p.Type + ": " + head)
	}
	return boundMessage(head, p.Text)
}

// ParseJUnit reads JUnit XML: <testsuites> or a lone <testsuite>, suites nested
// or not, each <testcase classname name time> with <failure>, <error> or
// <skipped>. A test's name is "classname.name", or name alone when there is no
// classname or the name already starts with it (Jest repeats it). An <error> is
// a failure. Each surefire rerun failure is one more failed run of the test, so
// a test that passed on a rerun is seen failing and passing on one commit.
func ParseJUnit(r io.Reader) (Summary, error) {
	sum := Summary{Format: FormatJUnit}
	dec := xml.NewDecoder(r)
	dec.Strict = false
	depth := 0 // of <testsuite> elements
	var rootTime time.Duration
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			return Summary{}, fmt.Errorf("JUnit XML line %d: %v: %w", line, err, ErrInput)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "testsuites":
				sawRoot = true
				rootTime += seconds(attr(el, "time"))
			case "testsuite":
				sawRoot = true
				if depth == 0 {
					sum.Elapsed += seconds(attr(el, "time"))
				}
				if ts := attr(el, "timestamp"); ts != "" {
					sum.noteTime(ts)
				}
				depth++
			case "testcase":
				sawRoot = true
				var c junitCase
				if err := dec.DecodeElement(&c, &el); err != nil {
					line, _ := dec.InputPos()
					return Summary{}, fmt.Errorf("JUnit XML line %d: testcase: %v: %w", line, err, ErrInput)
				}
				sum.Events++
				sum.Results = append(sum.Results, c.results()...)
			default:
				if !sawRoot && depth == 0 {
					return Summary{}, fmt.Errorf("JUnit XML starts with <%s>: expected <testsuites> or <testsuite>: %w", el.Name.Local, ErrInput)
				}
			}
		case xml.EndElement:
			if el.Name.Local == "testsuite" && depth > 0 {
				depth--
			}
		}
	}
	if !sawRoot {
		return Summary{}, fmt.Errorf("no <testsuite> or <testcase> found: expected JUnit XML: %w", ErrInput)
	}
	if sum.Elapsed == 0 {
		sum.Elapsed = rootTime
	}
	return sum, nil
}

func (c junitCase) results() []Result {
	name := c.Name
	if c.Classname != "" && c.Classname != c.Name && !strings.HasPrefix(c.Name, c.Classname+" ") {
		name = c.Classname + "." + c.Name
	}
	res := Result{Name: name, Outcome: Pass, Duration: seconds(c.Time)}
	var problems []junitProblem
	problems = append(problems, c.Failures...)
	problems = append(problems, c.Errors...)
	switch {
	case len(problems) > 0:
		res.Outcome = Fail
		res.Message = problems[0].text()
	case c.Skipped != nil:
		res.Outcome = Skip
	}
	out := []Result{}
	for _, group := range [][]junitProblem{c.FlakyFailure, c.FlakyError, c.RerunFailure, c.RerunError} {
		for _, p := range group {
			out = append(out, Result{Name: name, Outcome: Fail, Message: p.text()})
		}
	}
	return append(out, res)
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// seconds reads a JUnit time attribute: seconds, possibly with thousands
// separators ("1,234.5"). What cannot be read counts as zero.
func seconds(s string) time.Duration {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// noteTime keeps the earliest suite timestamp. JUnit timestamps usually carry
// no zone; they are taken as UTC.
func (sum *Summary) noteTime(ts string) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, ts); err == nil {
			if sum.RanAt.IsZero() || t.Before(sum.RanAt) {
				sum.RanAt = t.UTC()
			}
			return
		}
	}
}
