package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is one entry of the append-only log: everything that happens on the
// platform ("deploy.started", "build.failed", "release.promoted" ...). Readings
// such as the DORA metrics are computed from events.
type Event struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	App     string          `json:"app,omitempty"`
	Release int             `json:"release,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// EventQuery selects events; zero fields do not filter.
type EventQuery struct {
	App     string
	Types   []string  // any of these types
	Since   time.Time // events at or after Since
	Until   time.Time // events before Until
	AfterID int64     // events with ID > AfterID: the cursor for tailing the log
	Limit   int       // at most Limit events, the oldest first; all when <= 0
}

// AppendEvent appends e to the log and returns it with its ID, and with Time set
// to now if it was zero. Data, if any, must be valid JSON. Events are never
// updated or deleted, not even when their app is deleted.
func (s *Store) AppendEvent(ctx context.Context, e Event) (Event, error) {
	if e.Type == "" {
		return Event{}, fmt.Errorf("append event: empty type: %w", ErrInvalid)
	}
	var data sql.NullString
	if len(e.Data) > 0 {
		if !json.Valid(e.Data) {
			return Event{}, fmt.Errorf("append event %s: data is not valid JSON: %w", e.Type, ErrInvalid)
		}
		data = sql.NullString{String: string(e.Data), Valid: true}
		// Keep the caller's buffer out of the returned event.
		e.Data = append(json.RawMessage(nil), e.Data...)
	}
	if e.Time.IsZero() {
		e.Time = s.nowUTC()
	}
	e.Time = e.Time.UTC().Round(0)
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO events (occurred_at, type, app, release_version, data)
VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			toNanos(e.Time), e.Type, e.App, e.Release, data).Scan(&e.ID)
	})
	if err != nil {
		return Event{}, fmt.Errorf("append event %s: %w", e.Type, err)
	}
	return e, nil
}

// Events returns the events q selects, in ascending ID order (the order they
// were appended).
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	var f filter
	if q.App != "" {
		f.where("app = " + f.arg(q.App))
	}
	if len(q.Types) > 0 {
		marks := make([]string, len(q.Types))
		for i, t := range q.Types {
			marks[i] = f.arg(t)
		}
		f.where("type IN (" + strings.Join(marks, ", ") + ")")
	}
	if !q.Since.IsZero() {
		f.where("occurred_at >= " + f.arg(q.Since.UnixNano()))
	}
	if !q.Until.IsZero() {
		f.where("occurred_at < " + f.arg(q.Until.UnixNano()))
	}
	if q.AfterID > 0 {
		f.where("id > " + f.arg(q.AfterID))
	}
	query := `SELECT id, occurred_at, type, app, release_version, data FROM events` + f.clause() + " ORDER BY id"
	if q.Limit > 0 {
		query += " LIMIT " + f.arg(q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, f.args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	events := []Event{}
	for rows.Next() {
		var e Event
		var at int64
		var data sql.NullString
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.App, &e.Release, &data); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		e.Time = fromNanos(at)
		if data.Valid {
			e.Data = json.RawMessage(data.String)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	return events, nil
}
