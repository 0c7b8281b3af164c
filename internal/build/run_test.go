package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lineLog collects what a build writes to Request.Log and lets a test wait for a
// given line.
type lineLog struct {
	mu    sync.Mutex
	text  strings.Builder
	added chan struct{}
}

func newLineLog() *lineLog { return &lineLog{added: make(chan struct{}, 1)} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.text.Write(p)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// waitFor waits until the log holds line, or fails the test.
func (l *lineLog) waitFor(t *testing.T, line string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(l.String(), line+"\n") {
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("log never showed %q; it holds:\n%s", line, l.String())
		}
	}
}

func TestRunStepStreamsOutput(t *testing.T) {
	dir := t.TempDir()
	log := newLineLog()
	done := make(chan error, 1)
	// The command waits for a file the test creates only after it has seen the
	// first line: the test passes only if output arrives while the command runs.
	go func() {
		done <- runStep(context.Background(), dir, os.Environ(),
			"echo first; echo to-stderr >&2; while [ ! -e go-on ]; do sleep 0.01; done; echo second", log)
	}()
	log.waitFor(t, "first")
	log.waitFor(t, "to-stderr")
	if strings.Contains(log.String(), "\nsecond\n") {
		t.Fatal("second line before the go-ahead")
	}
	if err := os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(log.String(), "$ echo first;") || !strings.HasSuffix(log.String(), "second\n") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestRunStepFailure(t *testing.T) {
	log := newLineLog()
	err := runStep(context.Background(), t.TempDir(), os.Environ(),
		"for i in $(seq 1 30); do echo line $i; done; echo 'main.go:3:1: syntax error' >&2; exit 3", log)
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if be.ExitCode != 3 || len(be.Tail) != 20 || be.Tail[0] != "line 12" || be.Tail[19] != "main.go:3:1: syntax error" {
		t.Errorf("error = %+v", be)
	}
	want := "build failed: for i in $(seq 1 30); do echo line $i; done; echo 'main.go:3:1: syntax error' >&2; exit 3 exited with code 3" +
		"\n    line 27\n    line 28\n    line 29\n    line 30\n    main.go:3:1: syntax error"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	if !strings.Contains(log.String(), "line 1\n") {
		t.Error("the log lost the beginning of the output")
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Command: "go build .", ExitCode: 1, Tail: []string{"./main.go:3:1: undefined: x"}},
			"build failed: go build . exited with code 1\n    ./main.go:3:1: undefined: x"},
		{Error{Command: "make\nmake install", ExitCode: 2},
			"build failed: make ... exited with code 2"},
		{Error{Command: "cargo build", ExitCode: 127, Tail: []string{"sh: 1: cargo: not found"}},
			"build failed: cargo build exited with code 127 (command not found: is its toolchain installed where prosper runs?)\n    sh: 1: cargo: not found"},
		{Error{Command: "make", ExitCode: -1}, "build failed: make was killed"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
		}
	}
}

func TestRunStepCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	// The grandchild keeps the output pipe open, as a compiler under go build does.
	go func() {
		done <- runStep(ctx, dir, os.Environ(), "sleep 300 & echo $! > child.pid; wait", newLineLog())
	}()
	pid := waitForPIDFile(t, filepath.Join(dir, "child.pid"))
	started := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runStep did not return after cancel")
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Errorf("cancel took %s; the group was not killed, only waited out", d)
	}
	waitForExit(t, pid)
}

func TestRunStepKillsLeftovers(t *testing.T) {
	dir := t.TempDir()
	// Output redirected: the leftover does not hold the pipe, so the step ends
	// at once and the leftover must be killed explicitly.
	err := runStep(context.Background(), dir, os.Environ(), "sleep 300 >/dev/null 2>&1 & echo $! > child.pid", newLineLog())
	if err != nil {
		t.Fatal(err)
	}
	waitForExit(t, waitForPIDFile(t, filepath.Join(dir, "child.pid")))
}

func waitForPIDFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return 0
}

// waitForExit waits until pid is gone or a zombie.
func waitForExit(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d survived the build", pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestLineWriter(t *testing.T) {
	log := newLineLog()
	w := &lineWriter{out: log, max: 3}
	for _, chunk := range []string{"par", "tial\nwhole\n", "a\nb\nprogress 10%\rprogress 100%\r\n", "no newline"} {
		w.Write([]byte(chunk))
	}
	if got := log.String(); got != "partial\nwhole\na\nb\nprogress 10%\rprogress 100%\r\n" {
		t.Errorf("passed on %q", got)
	}
	w.flush()
	if got, want := w.lines(), []string{"b", "progress 100%", "no newline"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tail = %q, want %q", got, want)
	}
	if !strings.HasSuffix(log.String(), "no newline\n") {
		t.Errorf("flush lost the last line: %q", log.String())
	}

	long := strings.Repeat("x", maxLine+1)
	w.Write([]byte(long))
	if !strings.HasSuffix(log.String(), long+"\n") {
		t.Error("a line without newline over maxLine was held back")
	}
}
