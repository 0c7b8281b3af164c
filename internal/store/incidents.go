package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Incident causes: what opened the incident.
const (
	// CauseRollback is a rollback after a promotion.
	CauseRollback = "rollback"
	// CauseCrashLoop is a live release crash-looping in production.
	CauseCrashLoop = "crash_loop"
	// CauseGateRegression is a live release whose gates regress.
	CauseGateRegression = "gate_regression"
	// CauseManual is an incident opened by a person.
	CauseManual = "manual"
	// CauseImport is an incident recorded from another system's history.
	CauseImport = "import"
)

// IncidentCauses lists every incident cause.
var IncidentCauses = []string{CauseRollback, CauseCrashLoop, CauseGateRegression, CauseManual, CauseImport}

// Incident is a period when an app's production was broken: opened by prosper (a
// rollback after promotion, a live release whose gates regress, a crash loop in
// production) or by a person, linked to the release that caused it and the one
// that resolved it.
type Incident struct {
	ID         int64      `json:"id"`
	App        string     `json:"app"`
	Title      string     `json:"title"`
	Cause      string     `json:"cause"`                 // one of IncidentCauses
	Release    int        `json:"release,omitempty"`     // the release that caused it (0 unknown)
	ResolvedBy int        `json:"resolved_by,omitempty"` // the release that resolved it (0 unknown / not yet)
	Details    string     `json:"details,omitempty"`
	OpenedAt   time.Time  `json:"opened_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// IncidentQuery selects incidents; zero fields do not filter.
type IncidentQuery struct {
	App   string
	Open  bool      // only incidents not resolved yet
	Since time.Time // incidents opened at or after Since
	Limit int       // at most Limit incidents, the newest; all when <= 0
}

// OpenIncident records an incident and returns it with its ID, and with OpenedAt
// set to now if it was zero. The app must exist (ErrNotFound); the title must
// not be empty and the cause must be one of IncidentCauses (ErrInvalid). An
// incident recorded after the fact (CauseImport) may come resolved: ResolvedAt
// set, not before OpenedAt; ResolvedBy without ResolvedAt is ErrInvalid.
// Incidents are kept when their app is deleted.
func (s *Store) OpenIncident(ctx context.Context, in Incident) (Incident, error) {
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		return Incident{}, fmt.Errorf("open incident of app %q: empty title: %w", in.App, ErrInvalid)
	}
	if !slices.Contains(IncidentCauses, in.Cause) {
		return Incident{}, fmt.Errorf("open incident of app %q: cause %q: want one of %s: %w",
			in.App, in.Cause, strings.Join(IncidentCauses, ", "), ErrInvalid)
	}
	if in.Release < 0 || in.ResolvedBy < 0 {
		return Incident{}, fmt.Errorf("open incident of app %q: negative release: %w", in.App, ErrInvalid)
	}
	if in.OpenedAt.IsZero() {
		in.OpenedAt = s.nowUTC()
	}
	in.OpenedAt = in.OpenedAt.UTC().Round(0)
	if in.ResolvedAt != nil && in.ResolvedAt.IsZero() {
		in.ResolvedAt = nil
	}
	if in.ResolvedAt == nil && in.ResolvedBy != 0 {
		return Incident{}, fmt.Errorf("open incident of app %q: resolved by v%d but no resolution time: %w",
			in.App, in.ResolvedBy, ErrInvalid)
	}
	if in.ResolvedAt != nil {
		at := in.ResolvedAt.UTC().Round(0)
		if at.Before(in.OpenedAt) {
			return Incident{}, fmt.Errorf("open incident of app %q: resolved at %s, before it opened at %s: %w",
				in.App, at.Format(time.RFC3339), in.OpenedAt.Format(time.RFC3339), ErrInvalid)
		}
		in.ResolvedAt = &at
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := appExists(ctx, tx, in.App); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO incidents
	(app, title, cause, release_version, resolved_by, details, opened_at, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			in.App, in.Title, in.Cause, in.Release, in.ResolvedBy, in.Details,
			toNanos(in.OpenedAt), nullNanos(in.ResolvedAt)).Scan(&in.ID)
	})
	if err != nil {
		return Incident{}, fmt.Errorf("open incident of app %q: %w", in.App, err)
	}
	return in, nil
}

// ResolveIncident marks an open incident resolved at at (now if zero) by the
// release resolvedBy (0 when unknown) and returns it. Resolving an incident
// already resolved, or at a time before it opened, is ErrInvalid; an unknown
// incident is ErrNotFound. The incident's app need not exist anymore.
func (s *Store) ResolveIncident(ctx context.Context, id int64, resolvedBy int, at time.Time) (Incident, error) {
	if resolvedBy < 0 {
		return Incident{}, fmt.Errorf("resolve incident %d: negative release: %w", id, ErrInvalid)
	}
	if at.IsZero() {
		at = s.nowUTC()
	}
	at = at.UTC().Round(0)
	var in Incident
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if in, err = getIncident(ctx, tx, id); err != nil {
			return err
		}
		if in.ResolvedAt != nil {
			return fmt.Errorf("already resolved at %s: %w", in.ResolvedAt.Format(time.RFC3339), ErrInvalid)
		}
		if at.Before(in.OpenedAt) {
			return fmt.Errorf("resolution at %s is before it opened at %s: %w",
				at.Format(time.RFC3339), in.OpenedAt.Format(time.RFC3339), ErrInvalid)
		}
		// The IS NULL guard keeps a concurrent resolution by another process from
		// being overwritten.
		res, err := tx.ExecContext(ctx,
			`UPDATE incidents SET resolved_by = $1, resolved_at = $2 WHERE id = $3 AND resolved_at IS NULL`,
			resolvedBy, toNanos(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("already resolved: %w", ErrInvalid)
		}
		in.ResolvedBy = resolvedBy
		in.ResolvedAt = &at
		return nil
	})
	if err != nil {
		return Incident{}, fmt.Errorf("resolve incident %d: %w", id, err)
	}
	return in, nil
}

// GetIncident returns one incident, or ErrNotFound.
func (s *Store) GetIncident(ctx context.Context, id int64) (Incident, error) {
	in, err := getIncident(ctx, s.r, id)
	if err != nil {
		return Incident{}, fmt.Errorf("get incident %d: %w", id, err)
	}
	return in, nil
}

// Incidents returns the incidents q selects, newest first (by opening time).
func (s *Store) Incidents(ctx context.Context, q IncidentQuery) ([]Incident, error) {
	var f filter
	if q.App != "" {
		f.where("app = " + f.arg(q.App))
	}
	if q.Open {
		f.where("resolved_at IS NULL")
	}
	if !q.Since.IsZero() {
		f.where("opened_at >= " + f.arg(q.Since.UnixNano()))
	}
	query := `SELECT ` + incidentColumns + ` FROM incidents` + f.clause() + " ORDER BY opened_at DESC, id DESC"
	if q.Limit > 0 {
		query += " LIMIT " + f.arg(q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, f.args...)
	if err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	defer rows.Close()
	list := []Incident{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("query incidents: %w", err)
		}
		list = append(list, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	return list, nil
}

// incidentColumns is the column list scanIncident reads, in order.
const incidentColumns = `id, app, title, cause, release_version, resolved_by, details, opened_at, resolved_at`

func getIncident(ctx context.Context, q queryer, id int64) (Incident, error) {
	in, err := scanIncident(q.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, ErrNotFound
	}
	return in, err
}

func scanIncident(sc scanner) (Incident, error) {
	var in Incident
	var opened int64
	var resolved sql.NullInt64
	if err := sc.Scan(&in.ID, &in.App, &in.Title, &in.Cause, &in.Release, &in.ResolvedBy, &in.Details,
		&opened, &resolved); err != nil {
		return Incident{}, err
	}
	in.OpenedAt = fromNanos(opened)
	in.ResolvedAt = fromNullNanos(resolved)
	return in, nil
}
