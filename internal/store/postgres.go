package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// connMaxLifetime recycles PostgreSQL connections now and then, so that after
// a failover or behind a connection proxy the pools spread over the servers
// again instead of keeping their first connections forever.
const connMaxLifetime = 30 * time.Minute

// OpenPostgres connects to the PostgreSQL database dsn (a postgres:// URL or
// key=value connection string, as libpq and pgx read them), applies pending
// migrations under the write lock and returns the store. Several stores, in one
// process or in several control-plane replicas, may share the database: their
// write transactions take turns (see dialect.lockWrite).
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("open postgres store: empty connection string: %w", ErrInvalid)
	}
	where := redactDSN(dsn)
	w, err := openPostgresDB(dsn, 1, false)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	if err := migrate(ctx, w, dialectPostgres, postgresMigrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	r, err := openPostgresDB(dsn, readConns, true)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	return &Store{w: w, r: r, dialect: dialectPostgres, now: time.Now}, nil
}

// OpenURL opens the store that location names: a postgres:// or postgresql://
// URL is a PostgreSQL database (OpenPostgres), anything else the path of a
// SQLite file (Open). It lets one setting, such as a flag or an environment
// variable, choose the backend.
func OpenURL(ctx context.Context, location string) (*Store, error) {
	if isPostgresURL(location) {
		return OpenPostgres(ctx, location)
	}
	return Open(ctx, location)
}

func isPostgresURL(location string) bool {
	scheme, _, ok := strings.Cut(location, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// openPostgresDB opens a pool of at most conns connections. A read-only pool
// sets default_transaction_read_only, PostgreSQL's counterpart of SQLite's
// query_only, so a write slipped into a read path fails instead of bypassing
// the write lock.
func openPostgresDB(dsn string, conns int, readOnly bool) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords from its parse errors only as well as it can
		// parse the string, which has just failed.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot parse the connection string: want postgres://USER:PASSWORD@HOST:PORT/DATABASE or key=value pairs: %w", ErrInvalid)
		}
		return nil, err
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(connMaxLifetime)
	return db, nil
}

// redactDSN returns dsn for error messages: a URL without its password; a
// key=value string only as "(connection string)", since its password may sit
// anywhere in it.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && isPostgresURL(dsn) {
		return u.Redacted()
	}
	return "(connection string)"
}
