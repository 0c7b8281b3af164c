package router

import (
	"net/http"
	"sync"
)

// copyOrder keeps the copies sent to one candidate in the order the live release
// saw the requests, where the order can matter: a copy of a request that
// changes state (a write) starts only once the copies of every earlier request
// have been answered, and copies of later requests wait for it. Copies of reads
// between two writes go out together. So a list the live release served before
// a write is not served by the candidate after that write's copy, which would
// look like a difference of the candidate when it is only the mirror's timing.
//
// Tickets are taken in the order requests are queued; the globally oldest
// unanswered copy never waits, so the workers always make progress.
type copyOrder struct {
	mu      sync.Mutex
	pending []*copyTicket // not yet answered, oldest first
}

// copyTicket is one copy's place in the order.
type copyTicket struct {
	write   bool
	granted bool
	ready   chan struct{} // closed when the copy may be sent
}

// writes reports whether a request changes state by its method, as RFC 9110's
// safe methods do not.
func writes(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// take queues a ticket; the caller must call done once the copy is answered or
// given up, or cancel if the copy is never queued.
func (o *copyOrder) take(write bool) *copyTicket {
	t := &copyTicket{write: write, ready: make(chan struct{})}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = append(o.pending, t)
	o.grant()
	return t
}

// idle reports whether no copy holds or waits for a ticket.
func (o *copyOrder) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending) == 0
}

// done releases a ticket and lets the copies it held back go.
func (o *copyOrder) done(t *copyTicket) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, p := range o.pending {
		if p == t {
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			break
		}
	}
	o.grant()
}

// grant lets go the reads at the head of the order, or the write at its very
// head. Callers hold mu.
func (o *copyOrder) grant() {
	for i, t := range o.pending {
		if t.write {
			if i == 0 && !t.granted {
				t.granted = true
				close(t.ready)
			}
			return
		}
		if !t.granted {
			t.granted = true
			close(t.ready)
		}
	}
}
