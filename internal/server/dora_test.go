package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/dora"
	"github.com/prosperhq/prosper/internal/importer"
	"github.com/prosperhq/prosper/internal/store"
)

// TestDORAFollowsTheStore: the readings are computed from what the store holds,
// imported history included, and a later event shows at the next reading.
func TestDORAFollowsTheStore(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	ctx := context.Background()
	now := time.Now().UTC()
	day := 24 * time.Hour
	doc := importer.Document{
		Commits: []importer.Commit{
			{App: "shop", SHA: "aaaa1111", AuthorTime: now.Add(-10 * day), CommitTime: now.Add(-10 * day), Message: "one"},
			{App: "shop", SHA: "bbbb2222", Parents: []string{"aaaa1111"}, AuthorTime: now.Add(-9 * day), CommitTime: now.Add(-9 * day), Message: "two"},
		},
		Deployments: []importer.Deployment{
			{App: "shop", Commit: "aaaa1111", Time: now.Add(-9*day - 12*time.Hour), Tag: "v1"},
			{App: "shop", Commit: "bbbb2222", Time: now.Add(-8 * day), Tag: "v2"},
		},
	}
	if _, err := importer.Apply(ctx, ts.store, doc); err != nil {
		t.Fatal(err)
	}
	var m dora.Metrics
	decode(t, ts.must(http.MethodGet, "/api/dora?app=shop&since=30d", nil, http.StatusOK), &m)
	if m.Deployments != 2 || m.LeadTime.Samples != 2 || m.LeadTime.MedianSeconds != (18*time.Hour).Seconds() ||
		m.ChangeFailureRate.Value != 0 || m.Scope.App != "shop" {
		t.Fatalf("readings = %+v", m)
	}

	// A rejected release shows as caught before production at once.
	if _, err := ts.store.AppendEvent(ctx, store.Event{Type: "release.rejected", App: "shop", Release: 3}); err != nil {
		t.Fatal(err)
	}
	decode(t, ts.must(http.MethodGet, "/api/dora?since=30d", nil, http.StatusOK), &m)
	if m.CaughtBeforeProduction != 1 || m.Deployments != 2 {
		t.Fatalf("after a rejection: %+v", m)
	}
	for path, want := range map[string]int{"/api/dora?since=soon": 400, "/api/dora?app=shop&team=x": 400, "/api/dora?app=nope": 404} {
		ts.must(http.MethodGet, path, nil, want)
	}
}
