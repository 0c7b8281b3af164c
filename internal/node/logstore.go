package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// maxLogLine bounds one stored line; a process that writes megabytes without a
// newline must not make the node hold all of it in memory.
const maxLogLine = 64 << 10

// Rotation defaults: an app's logs take at most (3+1)·64 MiB of disk.
const (
	defaultLogMaxBytes = 64 << 20
	defaultLogKeep     = 3
)

// logStore keeps the output of every app in DATA_DIR/logs/APP.log, one JSON
// runtime.LogLine per line. One file per app (not per release) lets `prosper logs`
// follow an app across deploys, and appending keeps the history across node
// restarts. A line that would take APP.log past maxBytes first rotates it: the
// file becomes APP.log.1, older files shift to .2, .3 … and the one past keep
// is deleted, so a chatty app cannot fill the disk.
type logStore struct {
	dir      string
	maxBytes int64
	keep     int
	// segment is how many bytes of a file one search worker takes at a time.
	segment int64
	// now is the clock of searches and of the age sweep; tests set it.
	now func() time.Time
	// sweepStop ends the age sweep started by sweepEvery; sweepDone is closed
	// when it has ended.
	sweepStop, sweepDone chan struct{}

	mu   sync.Mutex
	apps map[string]*appLog
}

// appLog is the state of one app's log, guarded by logStore.mu.
type appLog struct {
	f    *os.File // APP.log open for appending; nil until the first line since the store opened
	size int64    // of APP.log
	// gen counts the rotations since the store opened: the file now named
	// APP.log.i was written as generation gen-i. A follower holding the file of
	// generation g finds the files written after it by that, whatever their
	// names have become.
	gen int64
	// watchers are woken (without blocking) whenever a line is appended, so
	// followers read new lines at once instead of polling.
	watchers map[chan struct{}]struct{}
}

// newLogStore keeps logs in dir, rotating a file at maxBytes and keeping keep
// rotated files; zero or less means the defaults.
func newLogStore(dir string, maxBytes int64, keep int) (*logStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	if maxBytes <= 0 {
		maxBytes = defaultLogMaxBytes
	}
	if keep <= 0 {
		keep = defaultLogKeep
	}
	return &logStore{dir: dir, maxBytes: maxBytes, keep: keep, now: time.Now, segment: searchSegment, apps: make(map[string]*appLog)}, nil
}

// path is APP.log for i = 0 and the i-th most recent rotated file otherwise.
func (s *logStore) path(app string, i int) string {
	p := filepath.Join(s.dir, app+".log")
	if i > 0 {
		p += "." + strconv.Itoa(i)
	}
	return p
}

// app returns the app's state, creating it; the caller holds s.mu.
func (s *logStore) app(name string) *appLog {
	a := s.apps[name]
	if a == nil {
		a = &appLog{watchers: make(map[chan struct{}]struct{})}
		s.apps[name] = a
	}
	return a
}

// Append writes one line to the app's log file and wakes its followers.
func (s *logStore) Append(l runtime.LogLine) error {
	b, err := json.Marshal(storedLine(l))
	if err != nil {
		return fmt.Errorf("encode log line: %w", err)
	}
	b = append(b, '\n')

	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(l.App)
	if err := s.openLive(l.App, a); err != nil {
		return err
	}
	var rotateErr error
	if a.size > 0 && a.size+int64(len(b)) > s.maxBytes {
		// The line is written even when rotating fails: losing output is worse
		// than a file past its limit, and the next line tries again.
		if rotateErr = s.rotate(l.App, a); rotateErr != nil {
			rotateErr = fmt.Errorf("rotate log of %s: %w", l.App, rotateErr)
		}
		if err := s.openLive(l.App, a); err != nil {
			return errors.Join(rotateErr, err)
		}
	}
	// One write call per line, under the lock, so readers never see two lines
	// interleaved.
	n, err := a.f.Write(b)
	a.size += int64(n)
	if err != nil {
		return errors.Join(rotateErr, fmt.Errorf("write log of %s: %w", l.App, err))
	}
	for ch := range a.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return rotateErr
}

// openLive opens APP.log for appending unless it is open; the caller holds s.mu.
func (s *logStore) openLive(app string, a *appLog) error {
	if a.f != nil {
		return nil
	}
	f, err := os.OpenFile(s.path(app, 0), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", app, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log of %s: %w", app, err)
	}
	a.f, a.size = f, fi.Size()
	return nil
}

// rotate deletes the oldest kept file, shifts APP.log.i to APP.log.i+1 and
// APP.log to APP.log.1; the caller holds s.mu and opens the next APP.log.
// Readers keep reading the files they hold open whatever their new names.
func (s *logStore) rotate(app string, a *appLog) error {
	closeErr := a.f.Close()
	a.f, a.size = nil, 0
	if err := os.Remove(s.path(app, s.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := s.keep - 1; i >= 0; i-- {
		if err := os.Rename(s.path(app, i), s.path(app, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	a.gen++
	return closeErr
}

func (s *logStore) watch(app string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.app(app).watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		a := s.apps[app]
		delete(a.watchers, ch)
		// Forget an app that nobody writes: a missing entry means generation 0.
		if len(a.watchers) == 0 && a.f == nil && a.gen == 0 {
			delete(s.apps, app)
		}
	}
}

// Close closes the open log files.
func (s *logStore) Close() error {
	s.stopSweep()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, a := range s.apps {
		if a.f != nil {
			errs = append(errs, a.f.Close())
			a.f, a.size = nil, 0
		}
	}
	return errors.Join(errs...)
}

// Query calls fn for each stored line matching q, oldest file first, and, with
// q.Follow, keeps calling it for new lines until ctx ends (which then is a
// normal end: nil). A follower goes on across rotations; it misses lines only
// when it falls so far behind that their file is deleted before it gets to it.
func (s *logStore) Query(ctx context.Context, q runtime.LogQuery, fn func(runtime.LogLine) error) error {
	if err := validName(q.App); err != nil {
		return err
	}
	now := time.Now()
	match := lineFilter(q, now)
	var notBefore time.Time
	if q.Since > 0 {
		notBefore = now.Add(-q.Since)
	}

	var wake <-chan struct{}
	if q.Follow {
		// Watch before the first open so a line appended in between is not
		// missed: it either is in a file we open or it wakes us afterwards.
		ch, unwatch := s.watch(q.App)
		defer unwatch()
		wake = ch
	}

	c := &logCursor{next: math.MinInt64}
	defer c.close()
	each := func(b []byte) error {
		var l runtime.LogLine
		if json.Unmarshal(b, &l) != nil || !match(l) {
			return nil // a damaged line must not end the stream
		}
		enrichLine(&l)
		return fn(l)
	}
	for {
		if err := s.openNewer(q.App, c, notBefore); err != nil {
			return err
		}
		if err := c.read(ctx, each); err != nil {
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

// logCursor is a reader's place in an app's files: those opened and not yet
// read to their end, oldest first, and the generation of the next one to open.
type logCursor struct {
	files []*lineReader
	next  int64
}

// openNewer opens, oldest first, the app's files of generation c.next onwards
// that still exist. Opening under the lock that rotation takes gives a
// consistent set even while files are being renamed. A rotated file last
// modified before notBefore holds only older lines and is skipped.
func (s *logStore) openNewer(app string, c *logCursor, notBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur int64
	if a := s.apps[app]; a != nil {
		cur = a.gen
	}
	for g := max(c.next, cur-int64(s.keep)); g <= cur; g++ {
		i := int(cur - g)
		f, err := os.Open(s.path(app, i))
		if errors.Is(err, os.ErrNotExist) {
			if i > 0 {
				c.next = g + 1
			}
			// A missing APP.log is opened once the app writes its first line.
			continue
		}
		if err != nil {
			return fmt.Errorf("open log of %s: %w", app, err)
		}
		c.next = g + 1
		if i > 0 && !notBefore.IsZero() {
			if fi, err := f.Stat(); err == nil && fi.ModTime().Before(notBefore) {
				f.Close()
				continue
			}
		}
		c.files = append(c.files, &lineReader{f: f, r: bufio.NewReaderSize(f, 32<<10)})
	}
	return nil
}

// read passes fn every complete line of the opened files. Every file but the
// newest has been rotated and will not grow, so it is closed at its end; the
// newest is kept to read what is appended to it next.
func (c *logCursor) read(ctx context.Context, fn func([]byte) error) error {
	for len(c.files) > 0 {
		if err := c.files[0].each(ctx, fn); err != nil {
			return err
		}
		if len(c.files) == 1 {
			return nil
		}
		c.files[0].f.Close()
		c.files = c.files[1:]
	}
	return nil
}

func (c *logCursor) close() {
	for _, lr := range c.files {
		lr.f.Close()
	}
	c.files = nil
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
		return q.Grep == "" || containsFold(l.Text, q.Grep)
	}
}

// lineReader yields complete lines from a file that may still be growing; a
// trailing partial line is kept until its newline arrives.
type lineReader struct {
	f       *os.File
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
