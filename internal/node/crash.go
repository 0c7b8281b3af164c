package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prosperhq/prosper/internal/runtime"
)

// crashLines is how many of a replica's last lines a crash report keeps.
const crashLines = 20

// crashFileMax bounds an app's crash file; past it the older half is dropped,
// so a process crash-looping for weeks cannot fill the disk.
const crashFileMax = 4 << 20

// Crash is a process of a replica that ended without being asked to: why, and
// what it wrote last.
type Crash struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Release int       `json:"release"`
	Replica int       `json:"replica"`
	// ExitCode is the process's exit status, -1 when a signal ended it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that ended it ("SIGSEGV"), if one did.
	Signal string `json:"signal,omitempty"`
	// Reason says it in words: "exit code 2", "killed by signal SIGKILL".
	Reason string `json:"reason"`
	// Lines are the replica's last lines before the end, oldest first.
	Lines []runtime.LogLine `json:"lines"`
}

// crashStore keeps crashes in DIR/APP.jsonl, one JSON Crash per line, oldest
// first.
type crashStore struct {
	dir string
	mu  sync.Mutex
}

func newCrashStore(dir string) (*crashStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create crash directory: %w", err)
	}
	return &crashStore{dir: dir}, nil
}

func (c *crashStore) path(app string) string { return filepath.Join(c.dir, app+".jsonl") }

// add appends a crash, first halving the file when it is past crashFileMax.
func (c *crashStore) add(cr Crash) error {
	b, err := json.Marshal(cr)
	if err != nil {
		return fmt.Errorf("encode crash: %w", err)
	}
	b = append(b, '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.path(cr.App)
	if fi, err := os.Stat(p); err == nil && fi.Size()+int64(len(b)) > crashFileMax {
		old, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("trim crashes of %s: %w", cr.App, err)
		}
		half := old[len(old)/2:]
		if i := bytes.IndexByte(half, '\n'); i >= 0 {
			half = half[i+1:]
		}
		if err := writeFileAtomic(p, half); err != nil {
			return fmt.Errorf("trim crashes of %s: %w", cr.App, err)
		}
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record crash of %s: %w", cr.App, err)
	}
	_, werr := f.Write(b)
	return errors.Join(werr, f.Close())
}

// list returns the app's crashes since the given time, oldest first.
func (c *crashStore) list(app string, since time.Time) ([]Crash, error) {
	if err := validName(app); err != nil {
		return nil, badRequest{err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := os.Open(c.path(app))
	if errors.Is(err, os.ErrNotExist) {
		return []Crash{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read crashes of %s: %w", app, err)
	}
	defer f.Close()
	out := []Crash{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), crashFileMax)
	for sc.Scan() {
		var cr Crash
		if json.Unmarshal(sc.Bytes(), &cr) != nil || cr.Time.Before(since) {
			continue
		}
		out = append(out, cr)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read crashes of %s: %w", app, err)
	}
	return out, nil
}

// recordCrash notes that a replica's process, started at started, ended
// unexpectedly, with the last lines it wrote (its output has been read to the
// end by now; the lines of its earlier runs are left out).
func (s *Supervisor) recordCrash(spec runtime.Spec, replica int, started time.Time, reason string, ps *os.ProcessState) {
	cr := Crash{Time: time.Now(), App: spec.App, Release: spec.Release, Replica: replica, ExitCode: -1, Reason: reason}
	if ps != nil {
		cr.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			cr.Signal = unix.SignalName(ws.Signal())
		}
	}
	s.saveCrash(cr, started)
}

// saveCrash records cr with the last lines the replica wrote since started.
func (s *Supervisor) saveCrash(cr Crash, started time.Time) {
	// The lines are stamped when read, after the start; the slack covers clock
	// steps and is far below the back-off between two runs.
	q := LogSearch{App: cr.App, Release: cr.Release, Since: time.Since(started) + 100*time.Millisecond,
		Limit: crashLines, replica: cr.Replica, byReplica: true}
	lines, err := s.logs.Search(context.Background(), q)
	if err != nil {
		s.logger.Warn("read the lines before a crash", "app", cr.App, "err", err)
	}
	slices.Reverse(lines)
	cr.Lines = lines
	if err := s.crashes.add(cr); err != nil {
		s.logger.Warn("record crash", "app", cr.App, "err", err)
	}
}

// Crashes returns the app's crashes of the last since (all kept ones for 0),
// oldest first.
func (s *Supervisor) Crashes(ctx context.Context, app string, since time.Duration) ([]Crash, error) {
	var from time.Time
	if since > 0 {
		from = time.Now().Add(-since)
	}
	return s.crashes.list(app, from)
}

// SearchLogs returns the newest lines of an app matching q, newest first.
func (s *Supervisor) SearchLogs(ctx context.Context, q LogSearch) ([]runtime.LogLine, error) {
	return s.logs.Search(ctx, q)
}
