package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/pgtest"
)

// BenchmarkReleaseWrite measures a typical write of a deploy: create a release
// and append its event, two transactions, one after the other, from one
// goroutine. It reports writes/s (one write = both). Run it with
//
//	go test -bench ReleaseWrite -run '^$' -count 5 ./internal/store/
//
// and take the medians. SQLite runs as the store opens it (WAL,
// synchronous=NORMAL: no fsync per commit). PostgreSQL runs with fsync turned
// on for the benchmark (the test server runs without it), once with
// synchronous_commit=on, PostgreSQL's default (each COMMIT waits for its WAL
// flush), and once with it off, which like SQLite's NORMAL may lose the last
// commits on a crash but never corrupts the database.
func BenchmarkReleaseWrite(b *testing.B) {
	variants := []struct {
		name    string
		backend backend
		params  string // appended to a postgres URL
	}{
		{"sqlite", backends[0], ""},
		{"postgres/sync_commit=on", backends[1], "&synchronous_commit=on"},
		{"postgres/sync_commit=off", backends[1], "&synchronous_commit=off"},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			if v.backend.dialect == dialectPostgres {
				withPostgresFsync(b)
			}
			s := openTestStore(b, v.backend.newLocation(b)+v.params)
			ctx := context.Background()
			mustCreateApp(b, s, "shop")
			b.ResetTimer()
			for b.Loop() {
				r, err := s.CreateRelease(ctx, Release{App: "shop", Source: "git", Commit: "0123456789abcdef",
					Env: map[string]string{"PORT": "8080", "MODE": "production"}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.AppendEvent(ctx, Event{Type: "release.created", App: "shop", Release: r.Version,
					Data: []byte(`{"source":"git"}`)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// withPostgresFsync turns fsync on in the shared test server until the
// benchmark ends; fsync takes effect on a configuration reload.
func withPostgresFsync(b *testing.B) {
	b.Helper()
	pg := pgtest.Shared(b)
	ctx := context.Background()
	set := func(value string) error {
		if _, err := pg.Admin.ExecContext(ctx, "ALTER SYSTEM SET fsync = "+value); err != nil {
			return err
		}
		if _, err := pg.Admin.ExecContext(ctx, "SELECT pg_reload_conf()"); err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got string
			if err := pg.Admin.QueryRowContext(ctx, "SHOW fsync").Scan(&got); err != nil {
				return err
			}
			if got == value {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("fsync still %s 10s after the reload", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := set("on"); err != nil {
		b.Fatalf("turn fsync on: %v", err)
	}
	b.Cleanup(func() {
		if err := set("off"); err != nil {
			b.Errorf("turn fsync off: %v", err)
		}
	})
}
