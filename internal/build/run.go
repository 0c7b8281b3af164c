package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// tailLines is how many lines of output an *Error keeps.
const tailLines = 20

// waitDelay bounds how long a finished or killed build may hold its output pipes
// open through a process it left behind.
const waitDelay = 5 * time.Second

// Error is a build command that ran and failed.
type Error struct {
	Command  string
	ExitCode int      // -1 when the command was killed by a signal
	Tail     []string // the last lines of its output, at most 20
}

// Error says which command failed and shows the end of its output, where the
// compiler or the package manager explains why.
func (e *Error) Error() string {
	var b strings.Builder
	cmd, _, multiline := strings.Cut(e.Command, "\n")
	if multiline {
		cmd += " ..."
	}
	if e.ExitCode < 0 {
		fmt.Fprintf(&b, "build failed: %s was killed", cmd)
	} else {
		fmt.Fprintf(&b, "build failed: %s exited with code %d", cmd, e.ExitCode)
	}
	if e.ExitCode == 127 {
		b.WriteString(" (command not found: is its toolchain installed where prosper runs?)")
	}
	tail := e.Tail
	if len(tail) > 5 {
		tail = tail[len(tail)-5:]
	}
	for _, line := range tail {
		b.WriteString("\n    ")
		b.WriteString(line)
	}
	return b.String()
}

// runStep runs one build command with /bin/sh in dir, streaming its output to log.
func runStep(ctx context.Context, dir string, env []string, command string, log io.Writer) error {
	out := &lineWriter{out: log, max: tailLines}
	for _, line := range strings.Split(command, "\n") {
		fmt.Fprintf(out, "$ %s\n", line)
	}
	out.tail = out.tail[:0] // the echoed command is not output worth keeping

	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = waitDelay
	inOwnProcessGroup(cmd)
	err := cmd.Run()
	// A build may leave background processes behind (a daemon, a watcher): they
	// belong to the build and end with it.
	killProcessGroup(cmd)
	out.flush()

	if ctx.Err() != nil {
		return fmt.Errorf("build cancelled: %w", context.Cause(ctx))
	}
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		return nil // it succeeded; what held its output open was killed above
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return &Error{Command: command, ExitCode: exitErr.ExitCode(), Tail: out.lines()}
	}
	if err != nil {
		return fmt.Errorf("run %q: %w", command, err)
	}
	return nil
}

// lineWriter passes output on to out one whole line at a time, so that lines from
// stdout and stderr never interleave mid-line, and keeps the last max lines.
type lineWriter struct {
	mu      sync.Mutex
	out     io.Writer
	max     int
	partial []byte
	tail    []string
}

// maxLine bounds a line held back while waiting for its newline (a progress bar
// drawn with carriage returns never sends one).
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.emit(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > maxLine {
		w.emit(w.partial)
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

// flush passes on a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	_, _ = w.out.Write(append(append([]byte(nil), line...), '\n'))
	text := strings.TrimRight(string(line), "\r")
	// Keep what a progress bar finally showed, not its every frame.
	if i := strings.LastIndexByte(text, '\r'); i >= 0 {
		text = text[i+1:]
	}
	w.tail = append(w.tail, text)
	if len(w.tail) > w.max {
		w.tail = w.tail[len(w.tail)-w.max:]
	}
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tail...)
}
