package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

func TestIncidentsByHand(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	ctx := context.Background()

	var in store.Incident
	decode(t, ts.must(http.MethodPost, "/api/incidents", IncidentRequest{App: "shop", Title: "checkout answers 500", Details: "since 14:02"}, http.StatusCreated), &in)
	if in.ID == 0 || in.App != "shop" || in.Cause != store.CauseManual || in.Title != "checkout answers 500" ||
		in.Details != "since 14:02" || in.ResolvedAt != nil || time.Since(in.OpenedAt) > time.Minute {
		t.Fatalf("opened %+v", in)
	}
	var open []store.Incident
	decode(t, ts.must(http.MethodGet, "/api/incidents?open=true&app=shop&since=30d", nil, http.StatusOK), &open)
	if len(open) != 1 || open[0].ID != in.ID {
		t.Fatalf("open incidents = %+v", open)
	}

	var res store.Incident
	decode(t, ts.must(http.MethodPost, "/api/incidents/"+jsonNumber(in.ID)+"/resolve", nil, http.StatusOK), &res)
	if res.ResolvedAt == nil || res.ResolvedBy != 0 {
		t.Fatalf("resolved %+v", res)
	}
	decode(t, ts.must(http.MethodGet, "/api/incidents?open=true", nil, http.StatusOK), &open)
	if len(open) != 0 {
		t.Fatalf("open incidents after resolving = %+v", open)
	}

	// Each step is an event, with the incident's times: the readings read
	// nothing else.
	evs, err := ts.store.Events(ctx, store.EventQuery{App: "shop", Types: []string{"incident.opened", "incident.resolved"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || !evs[0].Time.Equal(in.OpenedAt) || !evs[1].Time.Equal(*res.ResolvedAt) {
		t.Fatalf("events = %+v", evs)
	}
	var opened, resolved map[string]any
	_ = json.Unmarshal(evs[0].Data, &opened)
	_ = json.Unmarshal(evs[1].Data, &resolved)
	if opened["incident"] != float64(in.ID) || opened["cause"] != "manual" || opened["title"] != in.Title ||
		resolved["incident"] != float64(in.ID) || resolved["resolved_by"] != float64(0) {
		t.Errorf("event data: opened %v, resolved %v", opened, resolved)
	}

	// A release named must be one of the app's.
	rel, err := ts.store.CreateRelease(ctx, store.Release{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var second store.Incident
	decode(t, ts.must(http.MethodPost, "/api/incidents", IncidentRequest{App: "shop", Title: "slow", Release: rel.Version}, http.StatusCreated), &second)
	decode(t, ts.must(http.MethodPost, "/api/incidents/"+jsonNumber(second.ID)+"/resolve", ResolveIncidentRequest{ResolvedBy: rel.Version}, http.StatusOK), &res)
	if second.Release != rel.Version || res.ResolvedBy != rel.Version {
		t.Errorf("release links: caused by v%d, resolved by v%d; want v%d both", second.Release, res.ResolvedBy, rel.Version)
	}
	evs, _ = ts.store.Events(ctx, store.EventQuery{App: "shop", Types: []string{"incident.opened", "incident.resolved"}})
	if len(evs) != 4 || evs[2].Release != rel.Version || evs[3].Release != rel.Version {
		t.Errorf("the events of the second incident do not carry the release: %+v", evs[2:])
	}

	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		want         string
	}{
		{"unknown app", "POST", "/api/incidents", IncidentRequest{App: "nope", Title: "x"}, 404, `unknown app "nope"`},
		{"no app", "POST", "/api/incidents", IncidentRequest{Title: "x"}, 400, "no app"},
		{"no title", "POST", "/api/incidents", IncidentRequest{App: "shop", Title: "  "}, 400, "no title"},
		{"unknown release", "POST", "/api/incidents", IncidentRequest{App: "shop", Title: "x", Release: 9}, 400, "shop has no release v9"},
		{"not JSON", "POST", "/api/incidents", "{", 400, "not valid JSON"},
		{"resolve twice", "POST", "/api/incidents/" + jsonNumber(in.ID) + "/resolve", nil, 409, "was resolved already"},
		{"resolve unknown", "POST", "/api/incidents/999/resolve", nil, 404, "there is no incident 999"},
		{"resolve not a number", "POST", "/api/incidents/abc/resolve", nil, 400, `"abc" is not an incident number`},
		{"resolve by unknown release", "POST", "/api/incidents/" + jsonNumber(mustOpen(t, ts)) + "/resolve", ResolveIncidentRequest{ResolvedBy: 7}, 400, "shop has no release v7"},
		{"list since", "GET", "/api/incidents?since=yesterday", nil, 400, `since "yesterday" is not a window`},
		{"list limit", "GET", "/api/incidents?limit=0", nil, 400, "not a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call(tt.method, tt.path, ts.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, r.status, tt.status, r.body)
			}
			if msg, _ := r.apiError(t); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want %q", msg, tt.want)
			}
		})
	}
	if r := ts.call(http.MethodPost, "/api/incidents", "", IncidentRequest{App: "shop", Title: "x"}); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.status)
	}
}

func mustOpen(t *testing.T, ts *testServer) int64 {
	t.Helper()
	var in store.Incident
	decode(t, ts.must(http.MethodPost, "/api/incidents", IncidentRequest{App: "shop", Title: "another"}, http.StatusCreated), &in)
	return in.ID
}
