package node

import (
	"cmp"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// DefaultMirrorBuffer is how many exchanges wait for a slow mirror subscriber
// before the next ones are dropped for it.
const DefaultMirrorBuffer = 1024

var errNodeStopping = errors.New("the node is stopping")

// MirrorSubscriber describes one stream of GET /v1/mirror/exchanges. Offered
// counts the exchanges that matched its app filter; each ends up Sent, Dropped
// (its buffer was full) or still queued.
type MirrorSubscriber struct {
	ID    uint64    `json:"id"`
	App   string    `json:"app,omitempty"` // empty: every app
	Since time.Time `json:"since"`
	// Offered counts the exchanges matching the filter since the stream began.
	Offered int64 `json:"offered"`
	// Sent counts the exchanges written to the stream.
	Sent int64 `json:"sent"`
	// Dropped counts the exchanges lost because the subscriber read too slowly
	// and its buffer was full.
	Dropped int64 `json:"dropped"`
}

// mirrorHub is the router's mirror sink: it fans each exchange out to the
// subscribers of the control API. The router's mirror workers call publish, so
// it never blocks: a subscriber whose buffer is full loses the exchange.
type mirrorHub struct {
	logger *slog.Logger
	buffer int

	mu     sync.RWMutex
	subs   map[*mirrorSub]struct{}
	nextID uint64
	closed chan struct{} // closed when the node stops; every stream ends
	once   sync.Once
}

type mirrorSub struct {
	id    uint64
	app   string
	since time.Time
	ch    chan router.Exchange

	offered, sent, dropped atomic.Int64
}

func newMirrorHub(logger *slog.Logger, buffer int) *mirrorHub {
	if buffer <= 0 {
		buffer = DefaultMirrorBuffer
	}
	return &mirrorHub{logger: logger, buffer: buffer, subs: make(map[*mirrorSub]struct{}), closed: make(chan struct{})}
}

// publish hands the exchange to every matching subscriber without waiting.
// Subscribers share the exchange: they only read it.
func (h *mirrorHub) publish(ex router.Exchange) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if s.app != "" && s.app != ex.App {
			continue
		}
		s.offered.Add(1)
		select {
		case s.ch <- ex:
		default:
			s.dropped.Add(1)
		}
	}
}

func (h *mirrorHub) subscribe(app string) *mirrorSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	s := &mirrorSub{id: h.nextID, app: app, since: time.Now().UTC(), ch: make(chan router.Exchange, h.buffer)}
	h.subs[s] = struct{}{}
	return s
}

func (h *mirrorHub) unsubscribe(s *mirrorSub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
	st := s.reading()
	h.logger.Info("mirror subscriber left", "id", st.ID, "app", st.App,
		"offered", st.Offered, "sent", st.Sent, "dropped", st.Dropped)
}

// close ends every stream, now and to come.
func (h *mirrorHub) close() { h.once.Do(func() { close(h.closed) }) }

// subscribers returns the streams open now, oldest first.
func (h *mirrorHub) subscribers() []MirrorSubscriber {
	h.mu.RLock()
	out := make([]MirrorSubscriber, 0, len(h.subs))
	for s := range h.subs {
		out = append(out, s.reading())
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b MirrorSubscriber) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (s *mirrorSub) reading() MirrorSubscriber {
	return MirrorSubscriber{
		ID: s.id, App: s.app, Since: s.since,
		Offered: s.offered.Load(), Sent: s.sent.Load(), Dropped: s.dropped.Load(),
	}
}

// getMirrorExchanges streams the mirrored exchanges as NDJSON, one flush per
// exchange, until the client goes away or the node stops.
func (n *node) getMirrorExchanges(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app != "" {
		if err := validName(app); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	select {
	case <-n.mirror.closed:
		writeError(w, http.StatusServiceUnavailable, errNodeStopping)
		return
	default:
	}
	// Subscribed before the headers go out, so a client that has the answer
	// misses no exchange from then on.
	s := n.mirror.subscribe(app)
	defer n.mirror.unsubscribe(s)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-n.mirror.closed:
			return
		case ex := <-s.ch:
			if err := enc.Encode(ex); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			s.sent.Add(1)
		}
	}
}

func (n *node) getMirrorMetrics(w http.ResponseWriter, r *http.Request) {
	m := n.fleet.MirrorMetrics()
	if m == nil {
		m = []router.MirrorMetrics{}
	}
	writeJSON(w, http.StatusOK, m)
}

func (n *node) getMirrorSubscribers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.mirror.subscribers())
}
