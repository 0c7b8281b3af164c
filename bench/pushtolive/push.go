package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// verdict is what a push's output says about mirror production.
type verdict int

const (
	noVerdict verdict = iota
	promoted
	rejected
)

var verdictLine = regexp.MustCompile(`-----> (PROMOTED|REJECTED) v(\d+)\b`)

// parseVerdict reads one line of `git push` output ("remote: -----> PROMOTED
// v3: ..."): the verdict and the version it is about, or noVerdict.
func parseVerdict(line string) (verdict, int) {
	m := verdictLine.FindStringSubmatch(line)
	if m == nil {
		return noVerdict, 0
	}
	v, err := strconv.Atoi(m[2])
	if err != nil {
		return noVerdict, 0
	}
	if m[1] == "PROMOTED" {
		return promoted, v
	}
	return rejected, v
}

// scanLines splits git's output on "\n" and on the "\r" its progress lines
// end with, so that a line is seen as soon as it is written.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// pushWatch follows the output of a running `git push`: it keeps the whole
// output for errors and marks when mirror production gave its verdict.
type pushWatch struct {
	start   time.Time
	decided chan struct{} // closed at the first verdict line, or at the end of the output

	mu      sync.Mutex
	out     strings.Builder
	verdict verdict
	version int
	at      time.Duration // since start, when the verdict line came
}

func newPushWatch(start time.Time) *pushWatch {
	return &pushWatch{start: start, decided: make(chan struct{})}
}

// follow reads r until it ends.
func (w *pushWatch) follow(r io.Reader) {
	once := sync.OnceFunc(func() { close(w.decided) })
	defer once()
	sc := bufio.NewScanner(r)
	sc.Split(scanLines)
	for sc.Scan() {
		line := sc.Text()
		w.mu.Lock()
		w.out.WriteString(line + "\n")
		if w.verdict == noVerdict {
			if v, n := parseVerdict(line); v != noVerdict {
				w.verdict, w.version, w.at = v, n, time.Since(w.start)
				once()
			}
		}
		w.mu.Unlock()
	}
}

// result is the verdict, its version and when it came.
func (w *pushWatch) result() (verdict, int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.verdict, w.version, w.at
}

func (w *pushWatch) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// errRejected is the error of a push whose release mirror production rejected.
type errRejected struct {
	version int
	output  string
}

func (e *errRejected) Error() string {
	return fmt.Sprintf("v%d was REJECTED in mirror production; push output:\n%s", e.version, e.output)
}

// reasons are the lines of the push output that explain a rejection.
func (e *errRejected) reasons() []string {
	var out []string
	for _, line := range strings.Split(e.output, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "remote:"))
		if r, ok := strings.CutPrefix(line, "- "); ok {
			out = append(out, r)
		}
	}
	return out
}

// waitPromoted waits for the verdict; anything but PROMOTED is an error that
// carries the push output, an *errRejected for a rejection.
func (w *pushWatch) waitPromoted(timeout time.Duration) (int, time.Duration, error) {
	select {
	case <-w.decided:
	case <-time.After(timeout):
		return 0, 0, fmt.Errorf("no verdict within %s; push output:\n%s", timeout, w.output())
	}
	v, version, at := w.result()
	switch v {
	case promoted:
		return version, at, nil
	case rejected:
		return 0, 0, &errRejected{version: version, output: w.output()}
	}
	return 0, 0, fmt.Errorf("the push ended without a verdict; push output:\n%s", w.output())
}
