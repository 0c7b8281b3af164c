package rollout

import (
	"net/http"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/compare"
)

// The router keeps the candidate's copies in the order it received the live
// requests around writes. But two requests that live served at the same time
// have no order: a list read while a note was being written may or may not
// hold it, on live as on the candidate. A read that differs is therefore held
// for a moment, and not counted if live served it while serving a write of the
// app: the difference is the timing, not the candidate.

// holdReads is how long a differing read waits for the writes delivered after
// it; the copies of writes are answered in well under that.
const holdReads = 2 * time.Second

// interval is when the live release served a request.
type interval struct{ from, to time.Time }

func (a interval) overlaps(b interval) bool { return a.from.Before(b.to) && b.from.Before(a.to) }

// heldRead is a differing read waiting to be counted.
type heldRead struct {
	endpoint   string
	req        compare.RequestSummary
	live, cand compare.Response
	served     interval
	arrived    time.Time
}

// overlaps follows the writes and the held reads of one verification.
type overlaps struct {
	mu        sync.Mutex
	writes    []interval // the most recent ones, bounded
	held      []heldRead
	ambiguous int // differing reads not counted: served beside a write
}

const maxWrites = 4096

// readOrWrite tells a write by its method, as RFC 9110's safe methods are not.
func isRead(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

func (o *overlaps) write(served interval) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.writes) >= maxWrites {
		o.writes = o.writes[1:]
	}
	o.writes = append(o.writes, served)
}

func (o *overlaps) hold(r heldRead) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held = append(o.held, r)
}

// settle returns the held reads that have waited long enough (all of them when
// all is set) and did not overlap a write; it drops and counts the others.
func (o *overlaps) settle(now time.Time, all bool) []heldRead {
	o.mu.Lock()
	defer o.mu.Unlock()
	var count, keep []heldRead
	for _, r := range o.held {
		if !all && now.Sub(r.arrived) < holdReads {
			keep = append(keep, r)
			continue
		}
		ambiguous := false
		for _, w := range o.writes {
			if r.served.overlaps(w) {
				ambiguous = true
				break
			}
		}
		if ambiguous {
			o.ambiguous++
			continue
		}
		count = append(count, r)
	}
	o.held = keep
	return count
}

func (o *overlaps) ambiguousReads() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ambiguous
}
