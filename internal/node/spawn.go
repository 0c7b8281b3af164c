package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// spawnTimeout bounds how long Spawn waits for a new node to answer.
const spawnTimeout = 15 * time.Second

// SpawnOptions says how to start a node process.
type SpawnOptions struct {
	// Exe is the program to run, normally the prosper binary itself.
	Exe string
	// Args are its arguments, e.g. ["node", "--data-dir", D, "--http", A].
	Args []string
	// DataDir is the node's data directory: Spawn appends the node's output to
	// DataDir/node.log and reaches it on DataDir/node.sock.
	DataDir string
	// Env is the node's environment; nil means the spawner's.
	Env []string
}

// Spawn starts a node detached from the caller (own session, no terminal, output
// to DataDir/node.log), so that it survives the caller's death, and waits until it
// answers. When the node exits during start, the error carries the last line it
// wrote, e.g. that the router address is in use (then it wraps ErrAddrInUse).
func Spawn(ctx context.Context, o SpawnOptions) (*Client, Info, error) {
	if o.Exe == "" || o.DataDir == "" {
		return nil, Info{}, errors.New("spawn node: program and data directory are required")
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, Info{}, fmt.Errorf("spawn node: create data directory: %w", err)
	}
	logPath := filepath.Join(o.DataDir, nodeLogName)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, Info{}, fmt.Errorf("spawn node: open its log: %w", err)
	}
	defer logFile.Close()
	fi, err := logFile.Stat()
	if err != nil {
		return nil, Info{}, fmt.Errorf("spawn node: open its log: %w", err)
	}
	logStart := fi.Size() // this node's output starts here

	cmd := exec.Command(o.Exe, o.Args...)
	cmd.Env = o.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile // stdin stays /dev/null
	// A session of its own: no controlling terminal, so a Ctrl-C or a hangup
	// meant for the caller never reaches the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, Info{}, fmt.Errorf("spawn node: %w", err)
	}
	pid := cmd.Process.Pid
	// Waiting in the background collects the node's exit status if it exits
	// while the caller still runs (no zombie) and tells us when it dies during
	// start. It does not tie the node to the caller: when the caller dies, the
	// node is reparented and runs on.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	c := NewClient(o.DataDir)
	ctx, cancel := context.WithTimeout(ctx, spawnTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		infoCtx, cancelInfo := context.WithTimeout(ctx, time.Second)
		info, err := c.Info(infoCtx)
		cancelInfo()
		// Another node may answer on the socket while ours fails to start; only
		// our own process counts.
		if err == nil && info.PID == pid {
			return c, info, nil
		}
		select {
		case <-exited:
			return nil, Info{}, startFailure(logPath, logStart, waitErr)
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, Info{}, fmt.Errorf("the prosper node did not answer within %s; see %s", spawnTimeout, logPath)
			}
			return nil, Info{}, fmt.Errorf("spawn node: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// startError is a node's death during start, told with its last words.
type startError struct {
	line    string
	logPath string
	inUse   bool
}

func (e *startError) Error() string {
	return fmt.Sprintf("the prosper node exited while starting: %s (full output in %s)", e.line, e.logPath)
}

func (e *startError) Unwrap() error {
	if e.inUse {
		return ErrAddrInUse
	}
	return nil
}

func startFailure(logPath string, from int64, waitErr error) error {
	line := lastMeaningfulLine(logPath, from)
	if line == "" {
		line = fmt.Sprintf("no output (%v)", waitErr)
	}
	return &startError{
		line:    line,
		logPath: logPath,
		inUse:   strings.Contains(line, "router address") && strings.Contains(line, "is in use"),
	}
}

// lastMeaningfulLine returns the last line the node wrote after offset from,
// without usage text, blank lines or an "Error: " prefix; from a JSON log record
// it takes the error or the message.
func lastMeaningfulLine(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimRight(lines[i], "\r")
		if strings.TrimSpace(l) == "" || l[0] == ' ' || l[0] == '\t' ||
			strings.HasPrefix(l, "Usage:") || strings.HasPrefix(l, "Flags:") {
			continue
		}
		if strings.HasPrefix(l, "{") {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil {
				if s, ok := rec["err"].(string); ok && s != "" {
					return s
				}
				if s, ok := rec["msg"].(string); ok && s != "" {
					return s
				}
			}
		}
		return strings.TrimPrefix(l, "Error: ")
	}
	return ""
}
