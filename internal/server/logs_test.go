package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/node"
)

func TestLogsAndCrashesRequests(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	tests := []struct {
		path   string
		token  string
		status int
		msg    string
	}{
		{"/api/apps/shop/crashes", ts.token, 200, ""},
		{"/api/apps/shop/crashes?since=7d", ts.token, 200, ""},
		{"/api/apps/shop/crashes?since=soon", ts.token, 400, `since "soon" is not a duration`},
		{"/api/apps/nope/crashes", ts.token, 404, "nope"},
		{"/api/apps/shop/crashes", "", 401, ""},
		{"/api/apps/shop/logs?since=7d&grep=x&limit=5&level=warn", ts.token, 200, ""},
		{"/api/apps/shop/logs?limit=lots", ts.token, 400, "limit must be a number"},
		{"/api/apps/shop/logs?limit=1000000", ts.token, 400, "limit must be a number"},
	}
	for _, tt := range tests {
		r := ts.call(http.MethodGet, tt.path, tt.token, nil)
		if r.status != tt.status {
			t.Errorf("GET %s = %d %s, want %d", tt.path, r.status, r.body, tt.status)
			continue
		}
		if tt.msg != "" {
			if msg, _ := r.apiError(t); !strings.Contains(msg, tt.msg) {
				t.Errorf("GET %s says %q, want %q", tt.path, msg, tt.msg)
			}
		}
	}
	if r := ts.call(http.MethodGet, "/api/apps/shop/crashes", ts.token, nil); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("no crash yet = %s, want []", r.body)
	}

	if err := node.NewClient(ts.dataDir).Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := ts.call(http.MethodGet, "/api/apps/shop/crashes", ts.token, nil)
	if msg, hint := r.apiError(t); r.status != http.StatusBadGateway || !strings.Contains(msg, "node is not running") || !strings.Contains(hint, "prosper up") {
		t.Errorf("crashes with the node down = %d %q %q", r.status, msg, hint)
	}
}
