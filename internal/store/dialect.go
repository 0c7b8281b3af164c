package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is the SQL database behind a Store. The methods' SQL is the same on
// both; a dialect only decides what cannot be written portably: the schema's
// DDL and how write transactions are serialized.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// writeLockKey is the PostgreSQL advisory lock that every write transaction
// takes: the bytes of "prosper" as a number, unlikely to collide with the locks
// of another program sharing the database. Advisory locks are per database, so
// stores on different databases of one server do not wait for each other.
const writeLockKey int64 = 0x70726f7370657200

// migrations returns the schema steps of the dialect. Both lists have the same
// versions and names (a test checks it), so a database's version means the same
// schema on either.
func (d dialect) migrations() []migration {
	if d == dialectPostgres {
		return postgresMigrations
	}
	return migrations
}

// lockWrite serializes write transactions across every Store of the database.
//
// SQLite needs nothing here: the write pool begins its transactions with BEGIN
// IMMEDIATE, which takes the file's write lock. PostgreSQL runs writers
// concurrently, so several control-plane replicas could interleave a
// read-then-write sequence (read the live release, then demote it); the
// transaction-scoped advisory lock makes them take turns and is released by
// COMMIT or ROLLBACK. Transactions run at READ COMMITTED, so every statement
// after the lock sees what the previous holder committed. It also makes
// serial IDs (events, commits) increase in commit order, which the readers
// that tail them with a cursor rely on.
func (d dialect) lockWrite(ctx context.Context, tx *sql.Tx) error {
	if d != dialectPostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
		return fmt.Errorf("take write lock: %w", err)
	}
	return nil
}

// schemaMigrationsDDL creates the table that records applied migrations.
func (d dialect) schemaMigrationsDDL() string {
	if d == dialectPostgres {
		return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at INTEGER NOT NULL
)`
}

// isUniqueViolation reports whether err is a primary key or unique constraint
// failure (SQLite's constraint codes, PostgreSQL's SQLSTATE 23505); it backs up
// the explicit existence checks, which a concurrent writer on another Store of
// the same database could otherwise slip past.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// isBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY or
// one of its extended codes).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
