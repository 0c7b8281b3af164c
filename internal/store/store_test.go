package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stepClock makes s return times one second apart from a fixed start, so tests
// can assert exact timestamps and orderings.
func stepClock(s *Store) time.Time {
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var mu sync.Mutex
	next := start
	s.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(time.Second)
		return t
	}
	return start
}

func mustCreateApp(t testing.TB, s *Store, name string) App {
	t.Helper()
	a, err := s.CreateApp(context.Background(), App{Name: name})
	if err != nil {
		t.Fatalf("CreateApp(%s): %v", name, err)
	}
	return a
}

func TestOpenTwiceKeepsDataAndAppliesMigrationsOnce(t *testing.T) {
	eachBackend(t, testOpenTwiceKeepsDataAndAppliesMigrationsOnce)
}

func testOpenTwiceKeepsDataAndAppliesMigrationsOnce(t *testing.T, be backend) {
	ctx := context.Background()
	location := be.newLocation(t)
	if be.dialect == dialectSQLite {
		location = filepath.Join(filepath.Dir(location), "nested", "dir", "prosper.db")
	}
	s, err := OpenURL(ctx, location)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustCreateApp(t, s, "shop")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenURL(ctx, location)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	if s.dialect != be.dialect {
		t.Errorf("OpenURL(%s) opened a %s store, want %s", location, s.dialect, be.dialect)
	}
	if _, err := s.GetApp(ctx, "shop"); err != nil {
		t.Errorf("app lost across reopen: %v", err)
	}
	var n, max int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if want := len(be.dialect.migrations()); n != want || max != want {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, max, want)
	}
}

func TestOpenConcurrentlyOnNewDatabase(t *testing.T) {
	eachBackend(t, testOpenConcurrentlyOnNewDatabase)
}

func testOpenConcurrentlyOnNewDatabase(t *testing.T, be backend) {
	// Two processes starting at once must not both apply migration 1.
	location := be.newLocation(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := OpenURL(context.Background(), location)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
}

func TestOpenPragmas(t *testing.T) {
	s := newTestStore(t, backends[0]) // the pragmas are SQLite's
	ctx := context.Background()
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"query_only", "1"},
	} {
		var got string
		if err := s.r.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("reader PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	var fk string
	if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != "1" {
		t.Errorf("writer foreign_keys = %q, %v; want 1", fk, err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	// A data dir named like a DSN must not turn into DSN parameters: the file
	// must be created at exactly path and be found again there.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a b?c=d#e%20f", "prosper.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustCreateApp(t, s, "shop")
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at %s: %v", path, err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetApp(ctx, "shop"); err != nil {
		t.Errorf("app not found after reopen: %v", err)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) { eachBackend(t, testOpenRejectsNewerSchema) }

func testOpenRejectsNewerSchema(t *testing.T, be backend) {
	ctx := context.Background()
	location := be.newLocation(t)
	s, err := OpenURL(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)`,
		len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenURL(ctx, location)
	if err == nil || !strings.Contains(err.Error(), "upgrade prosper") {
		t.Errorf("Open of a newer schema: err = %v, want one saying to upgrade", err)
	}
}

func TestMigrate(t *testing.T) { eachBackend(t, testMigrate) }

func testMigrate(t *testing.T, be backend) {
	ctx := context.Background()
	tests := []struct {
		name    string
		list    []migration
		wantErr string
	}{
		{"in order", []migration{{1, "a", "CREATE TABLE a (x INTEGER)"}, {2, "b", "CREATE TABLE b (x INTEGER)"}}, ""},
		{"gap", []migration{{1, "a", "CREATE TABLE a (x INTEGER)"}, {3, "c", "CREATE TABLE c (x INTEGER)"}}, "want 2"},
		{"broken step rolls back", []migration{{1, "a", "CREATE TABLE a (x INTEGER)"}, {2, "bad", "CREATE TABLE"}}, "migration 2 (bad)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := be.rawDB(t, be.newLocation(t))
			defer db.Close()
			err := migrate(ctx, db, be.dialect, tc.list)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("migrate: %v", err)
				}
				// A second run finds nothing to do.
				if err := migrate(ctx, db, be.dialect, tc.list); err != nil {
					t.Fatalf("second migrate: %v", err)
				}
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(tc.list) {
					t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, len(tc.list))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("migrate err = %v, want it to contain %q", err, tc.wantErr)
			}
			// Nothing of a failed run is kept: table a must not exist.
			if tableExists(t, db, be.dialect, "a") {
				t.Error("table a exists after a failed migrate; want it rolled back")
			}
		})
	}
}

func TestParallelWritersAndReaders(t *testing.T) { eachBackend(t, testParallelWritersAndReaders) }

func testParallelWritersAndReaders(t *testing.T, be backend) {
	// Many goroutines using every kind of write at once: run with -race. Each
	// writer works on its own app so the final state can be checked exactly.
	s := newTestStore(t, be)
	ctx := context.Background()
	const writers, rounds = 8, 10
	var wg sync.WaitGroup
	errc := make(chan error, writers*rounds*4)
	for w := range writers {
		wg.Go(func() {
			app := fmt.Sprintf("app-%d", w)
			if _, err := s.CreateApp(ctx, App{Name: app}); err != nil {
				errc <- err
				return
			}
			for i := range rounds {
				if _, err := s.SetConfig(ctx, app, map[string]string{"N": fmt.Sprint(i)}, nil); err != nil {
					errc <- err
				}
				r, err := s.CreateRelease(ctx, Release{App: app, Status: StatusVerifying})
				if err != nil {
					errc <- err
					continue
				}
				if _, _, err := s.Promote(ctx, app, r.Version, StatusSuperseded); err != nil {
					errc <- err
				}
				if _, err := s.AppendEvent(ctx, Event{Type: "release.promoted", App: app, Release: r.Version}); err != nil {
					errc <- err
				}
			}
		})
		wg.Go(func() {
			for range rounds {
				if _, err := s.ListApps(ctx); err != nil {
					errc <- err
				}
				if _, err := s.Events(ctx, EventQuery{}); err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for w := range writers {
		app := fmt.Sprintf("app-%d", w)
		live, err := s.LiveRelease(ctx, app)
		if err != nil || live.Version != rounds {
			t.Errorf("%s live release = v%d, %v; want v%d", app, live.Version, err, rounds)
		}
		cfg, err := s.Config(ctx, app)
		if err != nil || cfg["N"] != fmt.Sprint(rounds-1) {
			t.Errorf("%s config = %v, %v; want N=%d", app, cfg, err, rounds-1)
		}
	}
	events, err := s.Events(ctx, EventQuery{})
	if err != nil || len(events) != writers*rounds {
		t.Errorf("events = %d, %v; want %d", len(events), err, writers*rounds)
	}
}

func TestErrorsWrapSentinels(t *testing.T) { eachBackend(t, testErrorsWrapSentinels) }

func testErrorsWrapSentinels(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	_, err := s.GetApp(ctx, "nope")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetApp of a missing app: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("error %q does not name the app", err)
	}
}
