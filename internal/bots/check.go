package bots

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
)

// Check applies a step's expectations to an answer obtained elsewhere: prosper uses
// it on the candidate's answer to the mirrored copy of a bot request. It returns ""
// when the answer passes, else the failure as a sentence, and the variables the
// step saves from this answer (as text), so that the caller can follow the
// candidate's side of a journey.
func Check(step Step, status int, body []byte, latency time.Duration) (reason string, saved map[string]string) {
	reason, vs := check(step, status, body, latency)
	if len(vs) > 0 {
		saved = make(map[string]string, len(vs))
		for k, v := range vs {
			saved[k] = text(v)
		}
	}
	return reason, saved
}

// check is Check keeping the saved values' JSON types, which a JSON body that uses
// them needs.
func check(step Step, status int, body []byte, latency time.Duration) (string, vars) {
	x := step.Expect
	if r := checkStatus(x, status); r != "" {
		// The body of an unexpected status is an error page: checking it too
		// would bury the one failure that matters under ones that follow from it.
		return r, nil
	}
	var failures []string
	var doc any
	var docErr string
	if len(x.JSON) > 0 || len(step.Save) > 0 {
		doc, docErr = decodeJSON(body)
	}
	for _, path := range sortedKeys(x.JSON) {
		if docErr != "" {
			failures = append(failures, fmt.Sprintf("%s, want %s = %s", docErr, path, show(x.JSON[path])))
			break
		}
		if r := checkJSON(doc, path, x.JSON[path]); r != "" {
			failures = append(failures, r)
		}
	}
	if x.BodyContains != "" && !strings.Contains(string(body), x.BodyContains) {
		failures = append(failures, fmt.Sprintf("body does not contain %q", x.BodyContains))
	}
	if x.MaxLatency > 0 && latency > x.MaxLatency {
		failures = append(failures, fmt.Sprintf("took %s, want at most %s", round(latency), x.MaxLatency))
	}
	saved := vars{}
	for _, name := range sortedKeys(step.Save) {
		path := step.Save[name]
		if docErr != "" {
			failures = append(failures, fmt.Sprintf("save %s: %s", name, docErr))
			break
		}
		v, found, err := lookup(doc, path)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("save %s: %v", name, err))
		case !found:
			failures = append(failures, fmt.Sprintf("save %s: %s is missing", name, path))
		default:
			saved[name] = v
		}
	}
	return strings.Join(failures, "; "), saved
}

// checkStatus words a status that is not expected.
func checkStatus(x Expect, status int) string {
	if len(x.Status) > 0 {
		if slices.Contains(x.Status, status) {
			return ""
		}
		want := make([]string, len(x.Status))
		for i, s := range x.Status {
			want[i] = strconv.Itoa(s)
		}
		return fmt.Sprintf("status %d, want %s", status, orList(want))
	}
	below := x.StatusBelow
	if below == 0 {
		below = 400
	}
	if status < below {
		return ""
	}
	return fmt.Sprintf("status %d, want below %d", status, below)
}

// orList writes "200", "200 or 201", "200, 201 or 204".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// decodeJSON reads a response body; the second result says why it is not JSON.
func decodeJSON(body []byte) (any, string) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, "the body is empty, not JSON"
	}
	doc, err := oj.Parse(body)
	if err != nil {
		start := []rune(strings.TrimSpace(string(body)))
		if len(start) > 20 {
			start = append(start[:20], '…')
		}
		return nil, fmt.Sprintf("the body is not JSON (it starts %q)", string(start))
	}
	return doc, ""
}

// checkJSON words how the value at path differs from want.
func checkJSON(doc any, path string, want any) string {
	got, found, err := lookup(doc, path)
	switch {
	case err != nil:
		return err.Error()
	case !found && want == anyValue:
		return fmt.Sprintf("%s is missing, want any value", path)
	case !found:
		return fmt.Sprintf("%s is missing, want %s", path, show(want))
	case want == anyValue || sameJSON(want, got):
		return ""
	case kind(want) != kind(got):
		return fmt.Sprintf("%s is %s (%s), want %s (%s)", path, show(got), kind(got), show(want), kind(want))
	}
	return fmt.Sprintf("%s is %s, want %s", path, show(got), show(want))
}

// lookup evaluates a JSONPath. A path that names one place (only names and
// indexes) gives the value there; any other (wildcards, filters, slices) gives the
// list of the values it selects, so that "$.items[*].id" can be compared with
// [1, 2] and is missing only when it selects nothing.
func lookup(doc any, path string) (any, bool, error) {
	x, err := jp.ParseString(path)
	if err != nil {
		return nil, false, fmt.Errorf("%q is not a valid JSON path", path)
	}
	got := x.Get(doc)
	if len(got) == 0 {
		return nil, false, nil
	}
	if singular(x) {
		return got[0], true, nil
	}
	return got, true, nil
}

// singular reports whether a path can select at most one value.
func singular(x jp.Expr) bool {
	for _, f := range x {
		switch f.(type) {
		case jp.Root, jp.At, jp.Child, jp.Nth, jp.Bracket:
		default:
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// round cuts a latency to a precision a person reads: 412ms, not 412.337901ms.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
