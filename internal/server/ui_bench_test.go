package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/store"
)

// fillYear records a busy app's year: 8 pushes a day, each with its commit,
// release and events (push, deploy, verify, verdict, promotion or rejection),
// and an incident a week.
func fillYear(tb testing.TB, st *store.Store, app string) {
	tb.Helper()
	ctx := context.Background()
	start := time.Now().Add(-365 * 24 * time.Hour)
	var commits []store.Commit
	for day := range 365 {
		for push := range 8 {
			at := start.Add(time.Duration(day)*24*time.Hour + time.Duration(push)*time.Hour)
			sha := fmt.Sprintf("%040x", day*8+push+1)
			commits = append(commits, store.Commit{App: app, SHA: sha, Branch: "main", Author: "Ada <ada@example.com>",
				AuthorTime: at.Add(-time.Hour), CommitTime: at.Add(-time.Hour), Message: fmt.Sprintf("change %d", day*8+push), PushedAt: at})
			status := store.StatusSuperseded
			if push == 7 {
				status = store.StatusRejected
			}
			rel, err := st.CreateRelease(ctx, store.Release{App: app, Status: status, Commit: sha, Source: "git", CreatedAt: at,
				Reasons: map[bool][]string{true: {"diff_rate 4% > 1%: $.total differs"}}[status == store.StatusRejected]})
			if err != nil {
				tb.Fatal(err)
			}
			verdict := "release.promoted"
			if status == store.StatusRejected {
				verdict = "release.rejected"
			}
			for i, typ := range []string{"push.received", "deploy.started", "build.succeeded", "verify.started", "verify.verdict", verdict} {
				data, _ := json.Marshal(map[string]any{"commit": sha, "source": "git"})
				if _, err := st.AppendEvent(ctx, store.Event{Type: typ, App: app, Release: rel.Version, Time: at.Add(time.Duration(i) * time.Minute), Data: data}); err != nil {
					tb.Fatal(err)
				}
			}
		}
		if day%7 == 0 {
			at := start.Add(time.Duration(day)*24*time.Hour + 9*time.Hour)
			resolved := at.Add(20 * time.Minute)
			if _, err := st.OpenIncident(ctx, store.Incident{App: app, Title: "p95 regressed", Cause: store.CauseImport,
				OpenedAt: at, ResolvedAt: &resolved}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := st.RecordCommits(ctx, commits); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkUIPagesWithAYearOfHistory times the UI's pages and the DORA data
// of the team page for an app with a year of history (2,920 releases, 17,520
// events, 53 incidents). Run: go test -run '^$' -bench UIPages ./internal/server
func BenchmarkUIPagesWithAYearOfHistory(b *testing.B) {
	dir := b.TempDir()
	s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Exe: prosperBin, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.StopAll(ctx)
		_ = node.NewClient(dir).Shutdown(ctx)
	})
	if _, err := s.store.CreateApp(b.Context(), store.App{Name: "shop", Team: "payments"}); err != nil {
		b.Fatal(err)
	}
	fillYear(b, s.store, "shop")
	token, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		b.Fatal(err)
	}
	br := newBrowser(b, s.URL())
	br.signIn(strings.TrimSpace(string(token)))
	// The first DORA read catches the ledger up with the year; later ones cost
	// only what arrived since.
	br.do(http.MethodGet, "/ui/api/dora?since=90d&team=payments", nil)
	for _, path := range []string{"/apps/shop", "/teams/payments", "/", "/ui/api/dora?since=90d&team=payments"} {
		name := strings.Trim(strings.NewReplacer("/", "_", "?", "_").Replace(path), "_")
		if name == "" {
			name = "home"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if resp, body := br.do(http.MethodGet, path, nil); resp.StatusCode != 200 {
					b.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
				}
			}
		})
	}
}
