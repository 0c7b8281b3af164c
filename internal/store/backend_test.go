package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/prosperhq/prosper/internal/pgtest"
)

// backend is a database the package's suite runs against: every test that
// opens a store runs once per backend, as a subtest named after it.
type backend struct {
	name    string
	dialect dialect
	// newLocation returns where a fresh, empty database is: a SQLite file path
	// or a postgres:// URL, either of which OpenURL opens.
	newLocation func(t testing.TB) string
	// rawDB opens a write pool on location without migrating it, for the
	// tests of migrate itself.
	rawDB func(t testing.TB, location string) *sql.DB
}

var backends = []backend{
	{
		name:    "sqlite",
		dialect: dialectSQLite,
		newLocation: func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "prosper.db")
		},
		rawDB: func(t testing.TB, location string) *sql.DB {
			db, err := openDB(location, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
	},
	{
		name:    "postgres",
		dialect: dialectPostgres,
		newLocation: func(t testing.TB) string {
			return pgtest.Shared(t).NewDatabase(t)
		},
		rawDB: func(t testing.TB, location string) *sql.DB {
			db, err := openPostgresDB(location, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
	},
}

// eachBackend runs test as a subtest per backend. The PostgreSQL one skips
// when no server can run here (see pgtest.Shared).
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// newTestStore opens a store on a fresh database of backend b and closes it
// when the test ends.
func newTestStore(t testing.TB, b backend) *Store {
	t.Helper()
	return openTestStore(t, b.newLocation(t))
}

// openTestStore opens the store at location (see OpenURL) and closes it when
// the test ends; several may share a location, as several processes would.
func openTestStore(t testing.TB, location string) *Store {
	t.Helper()
	s, err := OpenURL(context.Background(), location)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// tableExists reports whether the database has a table called name.
func tableExists(t testing.TB, db *sql.DB, d dialect, name string) bool {
	t.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if d == dialectPostgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.QueryRowContext(context.Background(), q, name).Scan(&n); err != nil {
		t.Fatalf("does table %s exist: %v", name, err)
	}
	return n > 0
}
