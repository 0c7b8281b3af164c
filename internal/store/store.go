// Package store keeps prosper's state (apps, config, releases, commits, API tokens)
// and its append-only event log.
//
// The embedded platform stores everything in one SQLite file through the pure-Go
// modernc.org/sqlite driver (Open); a control plane with several replicas, as in
// Kubernetes, uses PostgreSQL through pgx (OpenPostgres). SQL is kept portable
// (positional $N parameters, INSERT ... ON CONFLICT, RETURNING, timestamps as
// unix nanoseconds, JSON as TEXT) so that the same methods serve both; the
// dialect decides only the schema's DDL and how writes are serialized.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound is returned when the app, release or other record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when creating something whose name or key is taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid is returned when the input breaks a rule of the store (a bad name,
	// an unknown status, a transition that would leave two live releases).
	ErrInvalid = errors.New("invalid")
)

// readConns bounds the reader pool. Readers never block the writer in WAL mode,
// so a few of them let the API and UI read while a deploy writes.
const readConns = 4

// Store is the state of the platform. It is safe for concurrent use.
//
// Writes go through a single connection whose transactions are serialized
// across every Store of the database: on SQLite by BEGIN IMMEDIATE, on
// PostgreSQL by an advisory lock (see dialect.lockWrite), so read-then-write
// sequences (such as assigning the next release version) need no retries.
// Reads use a separate read-only pool.
type Store struct {
	w       *sql.DB // writer: one connection
	r       *sql.DB // readers: read-only
	dialect dialect

	// now is the clock; tests in this package replace it.
	now func() time.Time

	tokens tokenCache
}

// Open opens (creating if needed) the SQLite database at path, applies pending
// migrations and returns the store. The parent directory is created if missing.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open store: empty path: %w", ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w, err := openDB(path, 1, false)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, w, dialectSQLite, migrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r, err := openDB(path, readConns, true)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{w: w, r: r, dialect: dialectSQLite, now: time.Now}, nil
}

// openDB opens a pool on the database file with the pragmas every connection
// needs. The path is URI-escaped so that '?', '#' or '%' in a directory name
// cannot be mistaken for DSN parameters.
func openDB(path string, conns int, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL is durable enough in WAL mode (a power loss can only lose the last
	// transactions, never corrupt the file) and avoids an fsync per commit.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		q.Set("_txlock", "deferred")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in a write transaction and commits it if fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := s.dialect.lockWrite(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// toNanos converts a time to the stored form: unix nanoseconds, 0 for the zero time.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos; times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullNanos stores an optional time: NULL when t is nil.
func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNullNanos is the inverse of nullNanos.
func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// nowUTC returns the current time in UTC without a monotonic reading, so a value
// returned by a method compares equal to the same value read back.
func (s *Store) nowUTC() time.Time {
	return s.now().UTC().Round(0)
}
