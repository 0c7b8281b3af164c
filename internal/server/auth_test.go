package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/store"
)

func TestAPIAuthentication(t *testing.T) {
	ts := startServer(t, "")
	tests := []struct {
		name     string
		path     string
		auth     func(*http.Request)
		status   int
		msg      string // in the error, when status is not 200
		hintHave []string
	}{
		{name: "healthz needs no token", path: "/api/healthz", auth: func(*http.Request) {}, status: 200},
		{name: "no token", path: "/api/info", auth: func(*http.Request) {}, status: 401,
			msg: "needs a token", hintHave: []string{"prosper login " + ts.URL(), "--token", "admin-token"}},
		{name: "wrong bearer token", path: "/api/apps", auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer prsp_wrong") },
			status: 401, msg: "not valid", hintHave: []string{"admin-token", "prosper login"}},
		{name: "not a bearer scheme", path: "/api/apps", auth: func(r *http.Request) { r.Header.Set("Authorization", "Token "+ts.token) },
			status: 401, msg: "needs a token"},
		{name: "bearer token", path: "/api/info", auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ts.token) }, status: 200},
		{name: "token as basic password", path: "/api/apps", auth: func(r *http.Request) { r.SetBasicAuth("anyone", ts.token) }, status: 200},
		{name: "prometheus metrics need a token", path: "/metrics", auth: func(*http.Request) {}, status: 401, msg: "needs a token"},
		{name: "prometheus metrics with a token", path: "/metrics", auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ts.token) }, status: 200},
		{name: "wrong basic password", path: "/api/apps", auth: func(r *http.Request) { r.SetBasicAuth("prosper", "nope") },
			status: 401, msg: "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, ts.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.auth(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readReply(t, resp)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				return
			}
			msg, hint := r.apiError(t)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("error = %q, want it to say %q", msg, tt.msg)
			}
			for _, h := range tt.hintHave {
				if !strings.Contains(hint, h) {
					t.Errorf("hint = %q, want it to contain %q", hint, h)
				}
			}
		})
	}
}

func TestHookEndpointsNeedTheHookToken(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	push := HookPush{Branch: "feature", Old: strings.Repeat("0", 40), New: strings.Repeat("b", 40),
		Commits: []store.Commit{{SHA: strings.Repeat("b", 40), Author: "Ada <ada@example.com>", Message: "feature work"}}}
	for _, tok := range []struct{ name, token string }{{"no token", ""}, {"admin token", ts.token}, {"wrong token", "prsp_x"}} {
		for _, path := range []string{"/internal/apps/shop/commits", "/internal/apps/shop/deploy"} {
			r := ts.call(http.MethodPost, path, tok.token, push)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s with %s = %d %s, want 401", path, tok.name, r.status, r.body)
			}
		}
	}
	var commits []map[string]any
	decode(t, ts.must(http.MethodGet, "/api/apps/shop/commits", nil, 200), &commits)
	if len(commits) != 0 {
		t.Fatalf("a refused hook call recorded commits: %v", commits)
	}

	// With the hook token, the commits are recorded under the app and branch of
	// the request, whatever the body says.
	r := ts.call(http.MethodPost, "/internal/apps/shop/commits", ts.hookToken, push)
	if r.status != 200 {
		t.Fatalf("hook commits = %d %s", r.status, r.body)
	}
	decode(t, ts.must(http.MethodGet, "/api/apps/shop/commits", nil, 200), &commits)
	if len(commits) != 1 || commits[0]["app"] != "shop" || commits[0]["branch"] != "feature" ||
		commits[0]["message"] != "feature work" || commits[0]["pushed_at"] == "" {
		t.Fatalf("recorded commits = %v", commits)
	}
	if r := ts.call(http.MethodPost, "/internal/apps/shop/commits", ts.hookToken, "{"); r.status != http.StatusBadRequest {
		t.Errorf("hook commits with a bad body = %d", r.status)
	}
	var events []map[string]any
	decode(t, ts.must(http.MethodGet, "/api/events?app=shop", nil, 200), &events)
	if len(events) != 2 || events[1]["type"] != "push.received" {
		t.Errorf("events = %v", events)
	}
}
