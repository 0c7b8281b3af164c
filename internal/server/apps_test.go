package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/node"
)

func TestCreateAppValidatesNames(t *testing.T) {
	ts := startServer(t, "")
	tests := []struct {
		name string
		ok   bool
	}{
		{"ab", true},
		{"shop-api", true},
		{"a" + strings.Repeat("b", 39), true},
		{"s3", true},
		{"", false},
		{"a", false},
		{"Shop", false},
		{"1shop", false},
		{"-shop", false},
		{"shop-", false},
		{"shop_api", false},
		{"shop.api", false},
		{"shop api", false},
		{"../etc", false},
		{"a" + strings.Repeat("b", 40), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call(http.MethodPost, "/api/apps", ts.token, map[string]string{"name": tt.name})
			if tt.ok {
				if r.status != http.StatusCreated {
					t.Fatalf("create %q = %d %s", tt.name, r.status, r.body)
				}
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("create %q = %d %s, want 400", tt.name, r.status, r.body)
			}
			if msg, _ := r.apiError(t); !strings.Contains(msg, "lowercase letters") || !strings.Contains(msg, "e.g.") {
				t.Errorf("error = %q: it should say what a name may be", msg)
			}
		})
	}
}

func TestAppErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")

	r := ts.call(http.MethodPost, "/api/apps", ts.token, map[string]string{"name": "shop"})
	if r.status != http.StatusConflict {
		t.Fatalf("create twice = %d %s, want 409", r.status, r.body)
	}
	if msg, hint := r.apiError(t); !strings.Contains(msg, `"shop" exists`) || !strings.Contains(hint, "prosper app delete shop") {
		t.Errorf("409 says %q / %q", msg, hint)
	}

	for _, body := range []string{"", "{", "[1]", `{"name": 3}`} {
		r := ts.call(http.MethodPost, "/api/apps", ts.token, body)
		if msg, _ := r.apiError(t); r.status != http.StatusBadRequest || !strings.Contains(msg, "not valid JSON") {
			t.Errorf("create with body %q = %d %q", body, r.status, msg)
		}
	}

	// Every endpoint about one app answers 404 with a hint for an unknown one.
	unknown := []struct{ method, path string }{
		{"GET", "/api/apps/nope"},
		{"DELETE", "/api/apps/nope"},
		{"GET", "/api/apps/nope/status"},
		{"GET", "/api/apps/nope/releases"},
		{"GET", "/api/apps/nope/config"},
		{"PATCH", "/api/apps/nope/config"},
		{"GET", "/api/apps/nope/logs"},
		{"GET", "/api/apps/nope/commits"},
		{"GET", "/api/apps/nope/metrics"},
		{"POST", "/api/apps/nope/rollback"},
		{"POST", "/api/apps/nope/deploys"},
	}
	for _, u := range unknown {
		r := ts.call(u.method, u.path, ts.token, "{}")
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s = %d %s, want 404", u.method, u.path, r.status, r.body)
			continue
		}
		if msg, hint := r.apiError(t); msg != `unknown app "nope"` || !strings.Contains(hint, "prosper app create nope") {
			t.Errorf("%s %s says %q / %q", u.method, u.path, msg, hint)
		}
	}
	r = ts.call(http.MethodGet, "/api/apps/nope/releases/1/log", ts.token, nil)
	if msg, hint := r.apiError(t); r.status != http.StatusNotFound || msg != "nope has no release v1" || hint == "" {
		t.Errorf("build log of an unknown app = %d %q %q", r.status, msg, hint)
	}
}

func TestRequestValidation(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	tests := []struct {
		name, method, path string
		body               any
		status             int
		msg                string
	}{
		{"release not a number", "GET", "/api/apps/shop/releases/v2/log", nil, 400, "must be a number"},
		{"release that does not exist", "GET", "/api/apps/shop/releases/7/log", nil, 404, "shop has no release v7"},
		{"logs since not a duration", "GET", "/api/apps/shop/logs?since=yesterday", nil, 400, `since "yesterday" is not a duration`},
		{"logs release not a number", "GET", "/api/apps/shop/logs?release=v3", nil, 400, "release must be a number"},
		{"logs level not known", "GET", "/api/apps/shop/logs?level=loud", nil, 400, `level "loud"`},
		{"config body not JSON", "PATCH", "/api/apps/shop/config", "set=A", 400, "not valid JSON"},
		{"config key PORT", "PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"PORT": "1"}}, 400, "set by prosper"},
		{"config key PROSPER_APP", "PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"PROSPER_APP": "x"}}, 400, "set by prosper"},
		{"config key starting with a digit", "PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"1A": "x"}}, 400, "not a valid environment variable name"},
		{"config key with a dash", "PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"LOG-LEVEL": "x"}}, 400, "not a valid environment variable name"},
		{"config key empty", "PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"": "x"}}, 400, "not a valid environment variable name"},
		{"rollback body not JSON", "POST", "/api/apps/shop/rollback", "v1", 400, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call(tt.method, tt.path, ts.token, tt.body)
			if r.status != tt.status {
				t.Fatalf("= %d %s, want %d", r.status, r.body, tt.status)
			}
			if msg, _ := r.apiError(t); !strings.Contains(msg, tt.msg) {
				t.Errorf("error = %q, want it to say %q", msg, tt.msg)
			}
		})
	}
	var vars map[string]string
	decode(t, ts.must("GET", "/api/apps/shop/config", nil, 200), &vars)
	if len(vars) != 0 {
		t.Errorf("refused config changes were saved: %v", vars)
	}
}

func TestConfigBeforeTheFirstDeployWaitsForIt(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	var vars map[string]string
	if r := ts.must("GET", "/api/apps/shop/config", nil, 200); strings.TrimSpace(string(r.body)) != "{}" {
		t.Errorf("config of a new app = %s, want {}", r.body)
	}
	r := ts.must("PATCH", "/api/apps/shop/config", map[string]any{"set": map[string]string{"GREETING": "hi", "_X1": "y"}}, 200)
	msgs := messages(t, r)
	if len(msgs) != 2 || !strings.Contains(msgs[0].Line, "the first deploy of shop will use it") || msgs[1].Result == nil ||
		msgs[1].Result.Release.Version != 0 {
		t.Fatalf("config stream = %s", r.body)
	}
	decode(t, ts.must("GET", "/api/apps/shop/config", nil, 200), &vars)
	if vars["GREETING"] != "hi" || vars["_X1"] != "y" {
		t.Errorf("config = %v", vars)
	}
	ts.must("PATCH", "/api/apps/shop/config", map[string]any{"unset": []string{"GREETING"}}, 200)
	vars = nil
	decode(t, ts.must("GET", "/api/apps/shop/config", nil, 200), &vars)
	if _, ok := vars["GREETING"]; ok || len(vars) != 1 {
		t.Errorf("config after unset = %v", vars)
	}
	if rels := ts.must("GET", "/api/apps/shop/releases", nil, 200); strings.TrimSpace(string(rels.body)) != "[]" {
		t.Errorf("a config change without a live release made releases: %s", rels.body)
	}
}

// snakeKey is what every key of the API's JSON looks like.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkKeys fails the test for every object key of v that is not snake_case.
func checkKeys(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", where, k)
			}
			checkKeys(t, where+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkKeys(t, where+"[]", x)
		}
	}
}

func TestJSONShapes(t *testing.T) {
	ts := startServer(t, "")
	r := ts.must(http.MethodPost, "/api/apps", map[string]string{"name": "shop", "team": " payments "}, http.StatusCreated)
	var created map[string]any
	decode(t, r, &created)

	var info map[string]any
	decode(t, ts.must("GET", "/api/info", nil, 200), &info)
	if info["version"] != "test-1" || info["router_url"] != ts.RouterURL() || info["started_at"] == "" {
		t.Errorf("info = %v", info)
	}

	var list []map[string]any
	decode(t, ts.must("GET", "/api/apps", nil, 200), &list)
	var one, status map[string]any
	decode(t, ts.must("GET", "/api/apps/shop", nil, 200), &one)
	decode(t, ts.must("GET", "/api/apps/shop/status", nil, 200), &status)
	if len(list) != 1 {
		t.Fatalf("apps = %v", list)
	}
	app, _ := status["app"].(map[string]any)
	for where, v := range map[string]map[string]any{"create": created, "list": list[0], "get": one, "status.app": app} {
		checkKeys(t, where, v)
		want := map[string]any{
			"name": "shop", "team": "payments", "deploy_branch": "main", "state": "new",
			"git_url": ts.URL() + "/git/shop.git",
			"url":     strings.Replace(ts.RouterURL(), "127.0.0.1", "shop.localhost", 1),
		}
		for k, w := range want {
			if v[k] != w {
				t.Errorf("%s: %s = %v, want %v (all: %v)", where, k, v[k], w, v)
			}
		}
		if d, ok := v["domains"].([]any); !ok || len(d) != 0 {
			t.Errorf("%s: domains = %#v, want []", where, v["domains"])
		}
		if _, ok := v["live_release"]; ok {
			t.Errorf("%s: live_release of a never-deployed app: %v", where, v["live_release"])
		}
	}
	if w, ok := status["workloads"].([]any); !ok || len(w) != 0 {
		t.Errorf("status workloads = %#v, want []", status["workloads"])
	}
	for _, k := range []string{"live", "deploying", "problem"} {
		if _, ok := status[k]; ok {
			t.Errorf("status of a new app has %s: %v", k, status[k])
		}
	}
	for _, path := range []string{"/api/apps/shop/releases", "/api/apps/shop/commits"} {
		if r := ts.must("GET", path, nil, 200); strings.TrimSpace(string(r.body)) != "[]" {
			t.Errorf("%s = %s, want []", path, r.body)
		}
	}
	var events []map[string]any
	decode(t, ts.must("GET", "/api/events", nil, 200), &events)
	checkKeys(t, "events", toAny(t, events))
	if len(events) != 1 || events[0]["type"] != "app.created" || events[0]["app"] != "shop" {
		t.Errorf("events = %v", events)
	}
	id := int64(events[0]["id"].(float64))
	if r := ts.must("GET", "/api/events?after="+jsonNumber(id), nil, 200); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("events after the last = %s", r.body)
	}
	if r := ts.must("GET", "/api/events?app=other", nil, 200); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("events of another app = %s", r.body)
	}
}

func toAny(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestIndexPage(t *testing.T) {
	ts := startServer(t, "")
	r := ts.call(http.MethodGet, "/", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{"test-1", ts.RouterURL(), "prosper login " + ts.URL(), "admin-token"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("index page lacks %q:\n%s", want, r.body)
		}
	}
	if r := ts.call(http.MethodGet, "/nothing-here", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d", r.status)
	}
}

func TestNodeDownIsToldWithAHint(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	if err := node.NewClient(ts.dataDir).Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/apps/shop/logs", "/api/apps/shop/logs?follow=1", "/api/apps/shop/status", "/api/apps/shop/metrics"} {
		r := ts.call(http.MethodGet, path, ts.token, nil)
		if r.status != http.StatusBadGateway {
			t.Errorf("%s with the node down = %d %s, want 502", path, r.status, r.body)
			continue
		}
		if msg, hint := r.apiError(t); !strings.Contains(msg, "node is not running") || !strings.Contains(hint, "prosper up") {
			t.Errorf("%s with the node down says %q / %q", path, msg, hint)
		}
	}
	// What the control plane knows alone still answers.
	ts.must(http.MethodGet, "/api/apps", nil, http.StatusOK)
	ts.must(http.MethodGet, "/api/apps/shop/releases", nil, http.StatusOK)
}
