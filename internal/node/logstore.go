package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// maxLogLine bounds one stored line; a process that writes megabytes without a
// newline must not make the node hold all of it in memory.
const maxLogLine = 64 << 10

// logStore keeps the output of every app in DATA_DIR/logs/APP.log, one JSON
// runtime.LogLine per line. One file per app (not per release) lets `prosper logs`
// follow an app across deploys, and appending keeps the history across node
// restarts.
type logStore struct {
	dir string

	mu    sync.Mutex
	files map[string]*os.File
	// watchers are woken (without blocking) whenever a line is appended to an
	// app's file, so followers read new lines at once instead of polling.
	watchers map[string]map[chan struct{}]struct{}
}

func newLogStore(dir string) (*logStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	return &logStore{
		dir:      dir,
		files:    make(map[string]*os.File),
		watchers: make(map[string]map[chan struct{}]struct{}),
	}, nil
}

func (s *logStore) path(app string) string {
	return filepath.Join(s.dir, app+".log")
}

// Append writes one line to the app's log file and wakes its followers.
func (s *logStore) Append(l runtime.LogLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode log line: %w", err)
	}
	b = append(b, '\n')

	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[l.App]
	if f == nil {
		f, err = os.OpenFile(s.path(l.App), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open log of %s: %w", l.App, err)
		}
		s.files[l.App] = f
	}
	// One write call per line, under the lock, so readers never see two lines
	// interleaved.
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write log of %s: %w", l.App, err)
	}
	for ch := range s.watchers[l.App] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

func (s *logStore) watch(app string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.watchers[app] == nil {
		s.watchers[app] = make(map[chan struct{}]struct{})
	}
	s.watchers[app][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.watchers[app], ch)
		s.mu.Unlock()
	}
}

// Close closes the open log files.
func (s *logStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for app, f := range s.files {
		errs = append(errs, f.Close())
		delete(s.files, app)
	}
	return errors.Join(errs...)
}

// Query calls fn for each stored line matching q and, with q.Follow, keeps
// calling it for new lines until ctx ends (which then is a normal end: nil).
func (s *logStore) Query(ctx context.Context, q runtime.LogQuery, fn func(runtime.LogLine) error) error {
	if err := validName(q.App); err != nil {
		return err
	}
	match := lineFilter(q, time.Now())

	var wake <-chan struct{}
	if q.Follow {
		// Watch before the first read so a line appended in between is not missed:
		// it either is in the file when we read it or it wakes us afterwards.
		ch, unwatch := s.watch(q.App)
		defer unwatch()
		wake = ch
	}

	f, err := os.Open(s.path(q.App))
	if errors.Is(err, os.ErrNotExist) && q.Follow {
		// The app has not written anything yet; wait for its first line.
		for errors.Is(err, os.ErrNotExist) {
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
			}
			f, err = os.Open(s.path(q.App))
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open log of %s: %w", q.App, err)
	}
	defer f.Close()

	r := &lineReader{r: bufio.NewReaderSize(f, 32<<10)}
	for {
		if err := r.each(ctx, func(b []byte) error {
			var l runtime.LogLine
			if json.Unmarshal(b, &l) != nil || !match(l) {
				return nil // a damaged line must not end the stream
			}
			return fn(l)
		}); err != nil {
			return err
		}
		if !q.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
	}
}

// lineFilter returns the predicate for q, with "since" counted back from now.
func lineFilter(q runtime.LogQuery, now time.Time) func(runtime.LogLine) bool {
	var from time.Time
	if q.Since > 0 {
		from = now.Add(-q.Since)
	}
	return func(l runtime.LogLine) bool {
		if q.Release != 0 && l.Release != q.Release {
			return false
		}
		if !from.IsZero() && l.Time.Before(from) {
			return false
		}
		return q.Grep == "" || strings.Contains(l.Text, q.Grep)
	}
}

// lineReader yields complete lines from a file that may still be growing; a
// trailing partial line is kept until its newline arrives.
type lineReader struct {
	r       *bufio.Reader
	partial []byte
}

func (lr *lineReader) each(ctx context.Context, fn func([]byte) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		chunk, err := lr.r.ReadSlice('\n')
		if len(chunk) > 0 && (err == nil || errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, io.EOF)) {
			lr.partial = append(lr.partial, chunk...)
		}
		switch {
		case err == nil:
			line := bytes.TrimSuffix(lr.partial, []byte("\n"))
			lr.partial = lr.partial[:0]
			if err := fn(line); err != nil {
				return err
			}
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("read log: %w", err)
		}
	}
}

// scanLines cuts a process's output into lines of at most maxLogLine bytes.
func scanLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			fn(strings.TrimRight(string(chunk), "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
