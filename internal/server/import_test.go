package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/importer"
	"github.com/prosperhq/prosper/internal/store"
)

func TestImport(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	ctx := context.Background()
	// The example of the README, as another tool would send it.
	doc := `{
  "commits": [
    {"app": "shop", "sha": "1a2b3c4d", "parents": [], "author": "Ada <ada@example.com>",
     "author_time": "2026-01-05T09:00:00Z", "commit_time": "2026-01-05T09:10:00Z", "message": "Add checkout"}
  ],
  "deployments": [
    {"app": "shop", "commit": "1a2b3c4d", "time": "2026-01-05T11:00:00Z", "tag": "v1.2", "status": "success"},
    {"app": "shop", "commit": "5e6f7a8b", "time": "2026-01-06T10:00:00Z", "tag": "v1.3", "status": "failure"}
  ],
  "incidents": [
    {"app": "shop", "title": "checkout answers 500", "opened_at": "2026-01-06T10:20:00Z",
     "resolved_at": "2026-01-06T11:05:00Z", "tag": "v1.3"}
  ]
}`
	var sum importer.Summary
	decode(t, ts.must(http.MethodPost, "/api/import", doc, http.StatusOK), &sum)
	if want := (importer.Summary{Commits: 1, Deployments: 2, Incidents: 1}); sum != want {
		t.Fatalf("summary = %+v, want %+v", sum, want)
	}
	decode(t, ts.must(http.MethodPost, "/api/import", doc, http.StatusOK), &sum)
	if want := (importer.Summary{Commits: 1, Skipped: 3}); sum != want {
		t.Fatalf("second import: summary = %+v, want %+v", sum, want)
	}
	evs, err := ts.store.Events(ctx, store.EventQuery{App: "shop", Types: []string{"release.promoted", "incident.opened", "incident.resolved"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 {
		t.Errorf("%d events after two imports, want 4: %+v", len(evs), evs)
	}
	var list []store.Incident
	decode(t, ts.must(http.MethodGet, "/api/incidents?app=shop", nil, http.StatusOK), &list)
	if len(list) != 1 || list[0].Cause != store.CauseImport || list[0].ResolvedAt == nil {
		t.Errorf("incidents = %+v", list)
	}

	tests := []struct {
		name, body string
		want       []string
	}{
		{"not JSON", `{"commits": [`, []string{"not valid JSON"}},
		{"unknown field", `{"deploys": []}`, []string{`unknown field "deploys"`}},
		{"bad time", `{"deployments": [{"app": "shop", "commit": "abcd", "time": "yesterday"}]}`, []string{"not valid JSON", "yesterday"}},
		{"unknown app", `{"deployments": [{"app": "shop", "commit": "abcd", "time": "2026-01-01T00:00:00Z"}, {"app": "blog", "commit": "abcd", "time": "2026-01-01T00:00:00Z"}]}`,
			[]string{"nothing was imported", `deployments[1].app: unknown app "blog"`}},
		{"bad status", `{"deployments": [{"app": "shop", "commit": "abcd", "time": "2026-01-01T00:00:00Z", "status": "done"}]}`,
			[]string{`deployments[0].status: "done"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call(http.MethodPost, "/api/import", ts.token, tt.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			msg, _ := r.apiError(t)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q, want %q", msg, w)
				}
			}
		})
	}
	after, _ := ts.store.Events(ctx, store.EventQuery{App: "shop", Types: []string{"release.promoted"}})
	if len(after) != 2 {
		t.Errorf("invalid imports wrote promotions: %d, want 2", len(after))
	}
}
