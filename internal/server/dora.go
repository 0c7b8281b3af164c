package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/dora"
	"github.com/prosperhq/prosper/internal/store"
)

// readings keeps the delivery readings' ledger up to date with the store: it
// follows the event log and the commits with cursors, so a reading is as fresh
// as the last event and costs only what arrived since the previous one.
type readings struct {
	mu      sync.Mutex
	ledger  *dora.Ledger
	commits int64           // cursor of store.CommitsAfter
	apps    map[string]bool // the apps the ledger knows, to notice deleted ones
}

func newReadings() *readings { return &readings{ledger: dora.NewLedger(), apps: map[string]bool{}} }

// catchUp feeds the ledger what the store recorded since the last call.
func (r *readings) catchUp(ctx context.Context, st *store.Store) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	apps, err := st.ListApps(ctx)
	if err != nil {
		return err
	}
	now := map[string]bool{}
	for _, a := range apps {
		r.ledger.SetApp(a.Name, a.Team)
		now[a.Name] = true
	}
	for name := range r.apps {
		if !now[name] {
			// Deleted: its history stays in "everything", out of any team.
			r.ledger.SetApp(name, "")
		}
	}
	r.apps = now
	for {
		cs, next, err := st.CommitsAfter(ctx, r.commits, 20000)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			break
		}
		byApp := map[string][]dora.Commit{}
		for _, c := range cs {
			byApp[c.App] = append(byApp[c.App], dora.Commit{SHA: c.SHA, Parents: c.Parents, AuthorTime: c.AuthorTime})
		}
		for app, list := range byApp {
			r.ledger.AddCommits(app, list)
		}
		r.commits = next
	}
	for {
		evs, err := st.Events(ctx, store.EventQuery{AfterID: r.ledger.LastEventID(), Limit: 20000,
			Types: []string{"release.promoted", "release.rolled_back", "release.rejected", "incident.opened", "incident.resolved"}})
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			r.ledger.AddEvent(dora.Event{ID: e.ID, Time: e.Time, Type: e.Type, App: e.App, Release: e.Release, Data: e.Data})
		}
	}
}

// handleDORA answers the five metrics for an app, a team or everything over a
// window. Query: app or team, since (a duration such as 90d, 12h; default 90d),
// until (RFC 3339; default now).
func (s *Server) handleDORA(w http.ResponseWriter, r *http.Request) {
	q := dora.Query{App: r.URL.Query().Get("app"), Team: r.URL.Query().Get("team")}
	if q.App != "" && q.Team != "" {
		writeError(w, http.StatusBadRequest, "ask for an app or a team, not both", "")
		return
	}
	if q.App != "" {
		if _, err := s.store.GetApp(r.Context(), q.App); err != nil {
			writeStoreError(w, q.App, err)
			return
		}
	}
	q.To = time.Now().UTC()
	if v := r.URL.Query().Get("until"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "until "+strconv.Quote(v)+" is not a time", "write it like 2026-11-25T00:00:00Z")
			return
		}
		q.To = t
	}
	since := "90d"
	if v := r.URL.Query().Get("since"); v != "" {
		since = v
	}
	d, err := api.ParseWindow(since)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "write it like 90d, 2w or 36h")
		return
	}
	q.From = q.To.Add(-d)
	if err := s.readings.catchUp(r.Context(), s.store); err != nil {
		writeError(w, http.StatusInternalServerError, "read the event log: "+err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, s.readings.ledger.Metrics(q))
}
