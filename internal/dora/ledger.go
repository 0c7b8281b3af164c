package dora

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Event types the ledger reads; it ignores every other type.
const (
	TypePromoted        = "release.promoted"
	TypeRolledBack      = "release.rolled_back"
	TypeRejected        = "release.rejected"
	TypeIncidentOpened  = "incident.opened"
	TypeIncidentResolve = "incident.resolved"
)

// Event is an entry of prosper's event log, as the store keeps it.
type Event struct {
	ID      int64
	Time    time.Time
	Type    string
	App     string
	Release int
	Data    json.RawMessage
}

// Commit is a commit recorded for an app by a push or an import.
type Commit struct {
	SHA        string
	Parents    []string
	AuthorTime time.Time
}

// Ledger holds what the DORA metrics need, in memory. It is safe for concurrent
// use.
type Ledger struct {
	mu     sync.Mutex
	apps   map[string]*app
	lastID int64
	stack  []int32   // scratch for commit walks
	buf    []float64 // scratch for medians
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{apps: make(map[string]*app)}
}

// SetApp creates an app or changes its team. SetApp(name, "") takes a deleted
// app out of its team; its events stay in the overall figures.
func (l *Ledger) SetApp(name, team string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.app(name).team = team
}

// AddCommits records commits of an app. Adding a commit again changes nothing.
// Commits may arrive in any order, and after the promotion that deployed them:
// the lead times are then computed again.
func (l *Ledger) AddCommits(appName string, commits []Commit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.app(appName)
	for _, c := range commits {
		if c.SHA == "" {
			continue
		}
		if a.graph.add(c) {
			a.leadStale = true
		}
	}
}

// AddEvent records an event. Events must be fed in ID order (IDs start at 1);
// an event whose ID is not above LastEventID is ignored, so feeding one twice
// changes nothing. Types other than the five the metrics read, and events
// without an app, are ignored.
func (l *Ledger) AddEvent(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.ID <= l.lastID {
		return
	}
	l.lastID = e.ID
	if e.App == "" {
		return
	}
	switch e.Type {
	case TypePromoted, TypeRolledBack, TypeRejected, TypeIncidentOpened, TypeIncidentResolve:
	default:
		return
	}
	var d eventData
	if len(e.Data) > 0 {
		// A malformed payload still counts as the event it is, with its fields
		// zero: a promotion is a deployment even if its commit is unreadable.
		_ = json.Unmarshal(e.Data, &d)
	}
	l.app(e.App).add(e, &d)
}

// LastEventID returns the ID of the last event fed, to resume feeding from the
// event log after it.
func (l *Ledger) LastEventID() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastID
}

func (l *Ledger) app(name string) *app {
	a := l.apps[name]
	if a == nil {
		a = &app{name: name, dirty: true}
		l.apps[name] = a
	}
	return a
}

// eventData is the union of the payloads the ledger reads.
type eventData struct {
	Commit     string          `json:"commit"`
	From       int             `json:"from"`
	To         int             `json:"to"`
	Incident   json.RawMessage `json:"incident"`
	ResolvedBy *int            `json:"resolved_by"`
}

// incidentKey turns an incident id, a JSON number or string, into a map key.
func incidentKey(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if s, err := strconv.Unquote(string(raw)); err == nil {
			return s
		}
	}
	return string(raw)
}
