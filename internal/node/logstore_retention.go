package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Retention by age: a log file last written more than the maximum age ago
// holds only lines older than that, so it is deleted whole by a periodic sweep.
// Retention by size is rotation's job (logstore.go).
const (
	// DefaultLogMaxAge is how long logs are kept unless configured.
	DefaultLogMaxAge = 7 * 24 * time.Hour
	logSweepInterval = time.Minute
)

func (s *logStore) clock() time.Time { return s.now() }

// sweepEvery runs sweep(maxAge) now and then every interval until Close.
func (s *logStore) sweepEvery(maxAge, interval time.Duration, warn func(error)) {
	stop, done := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.sweepStop, s.sweepDone = stop, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := s.sweep(maxAge); err != nil {
				warn(err)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// stopSweep ends the sweep, if any, and waits for it.
func (s *logStore) stopSweep() {
	s.mu.Lock()
	stop, done := s.sweepStop, s.sweepDone
	s.sweepStop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// sweep deletes the log files last modified before now-maxAge.
func (s *logStore) sweep(maxAge time.Duration) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("sweep old logs: %w", err)
	}
	cutoff := s.clock().Add(-maxAge)
	var errs []error
	for _, e := range entries {
		app, i, ok := parseLogName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if err := s.removeIfOld(app, i, cutoff); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeIfOld deletes the app's i-th file if it was last written before
// cutoff. Under the lock, so no line is being appended to it meanwhile.
func (s *logStore) removeIfOld(app string, i int, cutoff time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.path(app, i)
	fi, err := os.Stat(p)
	if err != nil || !fi.ModTime().Before(cutoff) {
		return nil
	}
	if i == 0 {
		a := s.app(app)
		if a.f != nil {
			a.f.Close()
			a.f, a.size = nil, 0
		}
		// Followers hold the deleted file; a new generation makes them open the
		// APP.log the next line creates, as after a rotation.
		a.gen++
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete old log: %w", err)
	}
	return nil
}

// parseLogName splits "APP.log" (i = 0) and "APP.log.N" into app and index.
func parseLogName(name string) (app string, i int, ok bool) {
	if app, ok := strings.CutSuffix(name, ".log"); ok {
		return app, 0, validName(app) == nil
	}
	j := strings.LastIndex(name, ".log.")
	if j <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[j+len(".log."):])
	if err != nil || n <= 0 {
		return "", 0, false
	}
	app = name[:j]
	return app, n, validName(app) == nil && filepath.Base(name) == name
}
