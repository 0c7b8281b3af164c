package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one step of the schema. Steps are applied in version order and
// never edited once released: a change to the schema is a new step.
type migration struct {
	version int
	name    string
	up      string
}

// migrations is the schema of the SQLite store.
//
// Timestamps are unix nanoseconds (INTEGER, sortable, NULL when unset) and JSON
// values are TEXT. Events carry no foreign key to apps: the log is append-only
// and outlives a deleted app, which the UPDATE/DELETE triggers enforce.
//
// Every step has a twin of the same version and name in postgresMigrations
// (migrations_postgres.go), which a test holds to the same tables and columns.
var migrations = []migration{
	{version: 1, name: "initial schema", up: `
CREATE TABLE apps (
	name          TEXT PRIMARY KEY,
	team          TEXT NOT NULL DEFAULT '',
	deploy_branch TEXT NOT NULL,
	release_seq   INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

CREATE TABLE app_domains (
	domain TEXT PRIMARY KEY,
	app    TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE
);
CREATE INDEX app_domains_app ON app_domains(app);

CREATE TABLE config_vars (
	app   TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	name  TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (app, name)
);

CREATE TABLE releases (
	app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	version     INTEGER NOT NULL,
	status      TEXT NOT NULL,
	commit_sha  TEXT NOT NULL DEFAULT '',
	branch      TEXT NOT NULL DEFAULT '',
	source      TEXT NOT NULL DEFAULT '',
	artifact    TEXT NOT NULL DEFAULT '',
	command     TEXT NOT NULL DEFAULT '',
	health_path TEXT NOT NULL DEFAULT '',
	replicas    INTEGER NOT NULL DEFAULT 1,
	env         TEXT NOT NULL DEFAULT '{}',
	build_log   TEXT NOT NULL DEFAULT '',
	reasons     TEXT NOT NULL DEFAULT '[]',
	phases      TEXT NOT NULL DEFAULT '{}',
	created_at  INTEGER NOT NULL,
	live_at     INTEGER,
	finished_at INTEGER,
	PRIMARY KEY (app, version)
);
CREATE INDEX releases_status ON releases(status);

CREATE TABLE commits (
	app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	sha         TEXT NOT NULL,
	branch      TEXT NOT NULL DEFAULT '',
	author      TEXT NOT NULL DEFAULT '',
	author_time INTEGER NOT NULL DEFAULT 0,
	commit_time INTEGER NOT NULL DEFAULT 0,
	message     TEXT NOT NULL DEFAULT '',
	pushed_at   INTEGER NOT NULL,
	PRIMARY KEY (app, sha)
);
CREATE INDEX commits_app_time ON commits(app, commit_time);

CREATE TABLE events (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	occurred_at     INTEGER NOT NULL,
	type            TEXT NOT NULL,
	app             TEXT NOT NULL DEFAULT '',
	release_version INTEGER NOT NULL DEFAULT 0,
	data            TEXT
);
CREATE INDEX events_app ON events(app, id);
CREATE INDEX events_type ON events(type, id);
CREATE INDEX events_time ON events(occurred_at);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
`},
	// Incidents, like events, carry no foreign key to apps: delivery readings
	// (time to restore, change failure rate) must stay true after an app is
	// deleted. Bot runs belong to their app and go with it, so a re-created app
	// of the same name, whose versions start again at 1, never inherits them.
	// Costs are DOUBLE PRECISION, which SQLite reads as REAL and PostgreSQL as
	// float8 (its REAL is float4).
	{version: 2, name: "mirror production: verification, incidents, bot runs", up: `
ALTER TABLE releases ADD COLUMN verification TEXT;

CREATE TABLE incidents (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	app             TEXT NOT NULL,
	title           TEXT NOT NULL,
	cause           TEXT NOT NULL,
	release_version INTEGER NOT NULL DEFAULT 0,
	resolved_by     INTEGER NOT NULL DEFAULT 0,
	details         TEXT NOT NULL DEFAULT '',
	opened_at       INTEGER NOT NULL,
	resolved_at     INTEGER
);
CREATE INDEX incidents_app ON incidents(app, opened_at);
CREATE INDEX incidents_opened ON incidents(opened_at);

CREATE TABLE bot_runs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	app             TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	release_version INTEGER NOT NULL,
	target          TEXT NOT NULL,
	scenario        TEXT NOT NULL,
	file            TEXT NOT NULL DEFAULT '',
	passed          BOOLEAN NOT NULL,
	failed_step     INTEGER NOT NULL,
	step_name       TEXT NOT NULL DEFAULT '',
	reason          TEXT NOT NULL DEFAULT '',
	cost_amount     DOUBLE PRECISION NOT NULL DEFAULT 0,
	cost_currency   TEXT NOT NULL DEFAULT '',
	started         INTEGER NOT NULL,
	duration_ns     INTEGER NOT NULL
);
CREATE INDEX bot_runs_app_started ON bot_runs(app, started);
CREATE INDEX bot_runs_app_release ON bot_runs(app, release_version, target);
`},
	{version: 3, name: "delivery readings: commit parents, test results", up: `
ALTER TABLE commits ADD COLUMN parents TEXT NOT NULL DEFAULT '';

CREATE TABLE test_ingests (
	id          INTEGER PRIMARY KEY,
	app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	commit_sha  TEXT NOT NULL,
	format      TEXT NOT NULL,
	source      TEXT NOT NULL DEFAULT '',
	wall_ns     INTEGER NOT NULL DEFAULT 0,
	ran_at      INTEGER NOT NULL,
	ingested_at INTEGER NOT NULL,
	tests       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX test_ingests_app ON test_ingests(app, ran_at);

CREATE TABLE test_runs (
	id          INTEGER PRIMARY KEY,
	ingest_id   INTEGER NOT NULL REFERENCES test_ingests(id) ON DELETE CASCADE,
	app         TEXT NOT NULL,
	commit_sha  TEXT NOT NULL,
	name        TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	duration_ns INTEGER NOT NULL DEFAULT 0,
	ran_at      INTEGER NOT NULL,
	message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX test_runs_app_name ON test_runs(app, name, ran_at);
CREATE INDEX test_runs_app_commit ON test_runs(app, commit_sha);
`},
}

// migrate applies the pending migrations of list in one transaction, so a
// database is either fully at the new version or untouched. The transaction is
// a write transaction of the dialect (BEGIN IMMEDIATE on SQLite, the advisory
// write lock on PostgreSQL, whose DDL is transactional too), taken before the
// version is read, so two processes opening the same database at once apply
// each step once.
func migrate(ctx context.Context, db *sql.DB, d dialect, list []migration) error {
	for i, m := range list {
		if m.version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d (versions run 1, 2, 3 and so on)", m.name, m.version, i+1)
		}
	}
	// On SQLite the table is created first, by a statement of its own: on a new
	// file, a BEGIN IMMEDIATE as a connection's first statement can fail with
	// SQLITE_BUSY instead of waiting while another connection sets up the WAL.
	// On PostgreSQL it is created under the lock, since concurrent CREATE TABLE
	// IF NOT EXISTS statements can collide there.
	if d == dialectSQLite {
		// Even that statement can meet SQLITE_BUSY without the busy timeout
		// applying while another connection turns a new file to WAL: retry
		// for a bounded time.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := db.ExecContext(ctx, d.schemaMigrationsDDL())
			if err == nil {
				break
			}
			if !isBusy(err) || time.Now().After(deadline) {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := d.lockWrite(ctx, tx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if d == dialectPostgres {
		if _, err := tx.ExecContext(ctx, d.schemaMigrationsDDL()); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	}

	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(list) {
		return fmt.Errorf("database schema is at version %d but this prosper knows only %d: upgrade prosper", current, len(list))
	}
	for _, m := range list[current:] {
		if _, err := tx.ExecContext(ctx, m.up); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
