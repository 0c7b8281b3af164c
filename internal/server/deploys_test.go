package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

// appScript writes a line in each of the ways apps write levels, then serves HTTP.
const appScript = `echo 'level=info msg=started'
echo 'level=info msg="retrying after error: timeout"'
echo '{"level":"warning","msg":"disk almost full"}'
echo '[ERROR] cannot reach the cache'
echo 'plain stdout line'
echo 'plain stderr line' >&2
exec python3 -m http.server "$PORT" --bind 127.0.0.1
`

// messages decodes a streamed answer.
func messages(t *testing.T, r reply) []api.Message {
	t.Helper()
	var out []api.Message
	dec := json.NewDecoder(bytes.NewReader(r.body))
	for {
		var m api.Message
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("stream is not NDJSON (%v): %s", err, r.body)
		}
		out = append(out, m)
	}
}

// deployScriptApp deploys appScript as a Procfile app and returns the release.
func (ts *testServer) deployScriptApp(app string) api.Result {
	ts.t.Helper()
	dir := ts.t.TempDir()
	for name, body := range map[string]string{"Procfile": "web: sh app.sh\n", "app.sh": appScript} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			ts.t.Fatal(err)
		}
	}
	var tgz bytes.Buffer
	if err := build.PackDir(dir, &tgz); err != nil {
		ts.t.Fatal(err)
	}
	r := ts.must(http.MethodPost, "/api/apps/"+app+"/deploys?commit=abc123", tgz.Bytes(), 200)
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		ts.t.Errorf("deploy Content-Type = %q", ct)
	}
	msgs := messages(ts.t, r)
	last := msgs[len(msgs)-1]
	if last.Result == nil {
		ts.t.Fatalf("deploy did not succeed:\n%s", r.body)
	}
	for _, m := range msgs[:len(msgs)-1] {
		if m.Result != nil || m.Error != nil {
			ts.t.Errorf("a message before the last ends the stream: %+v", m)
		}
	}
	return *last.Result
}

// logTexts asks the logs endpoint and returns the texts of the lines.
func (ts *testServer) logTexts(query string) []string {
	ts.t.Helper()
	r := ts.must(http.MethodGet, "/api/apps/shop/logs?"+query, nil, 200)
	var texts []string
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var l runtime.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Text == "" {
			ts.t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		texts = append(texts, l.Text)
	}
	return texts
}

func TestDeployLogsAndDelete(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	res := ts.deployScriptApp("shop")
	if res.Release.Version != 1 || res.Release.Status != "live" || res.Release.Commit != "abc123" || res.Release.Source != "deploy" {
		t.Fatalf("release = %+v", res.Release)
	}

	var raw map[string]any
	decode(t, ts.must("GET", "/api/apps/shop", nil, 200), &raw)
	if raw["state"] != "running" || raw["live_release"] != 1.0 {
		t.Errorf("app after a deploy = %v", raw)
	}
	var st api.StatusView
	decode(t, ts.must("GET", "/api/apps/shop/status", nil, 200), &st)
	if st.Live == nil || st.Live.Version != 1 || len(st.Workloads) != 1 || !st.Workloads[0].Ready() || st.Problem != "" {
		t.Errorf("status = %+v", st)
	}
	if r := ts.must("GET", "/api/apps/shop/releases/1/log", nil, 200); !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("build log Content-Type = %q", r.header.Get("Content-Type"))
	}

	// The app's lines reach the node's log store asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(ts.logTexts(""), "plain stderr line") {
		if time.Now().After(deadline) {
			t.Fatalf("the app's lines never showed up: %q", ts.logTexts(""))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mine := []string{
		"level=info msg=started",
		`level=info msg="retrying after error: timeout"`,
		`{"level":"warning","msg":"disk almost full"}`,
		"[ERROR] cannot reach the cache",
		"plain stdout line",
		"plain stderr line",
	}
	tests := []struct {
		query string
		want  []string // of mine, exactly these
	}{
		{"", mine},
		// A level means that level or worse.
		{"level=info", mine},
		{"level=INFO", mine},
		{"level=warn", []string{mine[2], mine[3], mine[5]}},
		{"level=warning", []string{mine[2], mine[3], mine[5]}},
		{"level=error", []string{mine[3], mine[5]}},
		{"level=debug", mine},
		{"grep=cache", []string{mine[3]}},
		{"grep=level%3Dinfo&level=info", []string{mine[0], mine[1]}},
		{"release=1&since=1h", mine},
		{"release=2", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range ts.logTexts(tt.query) {
			if slices.Contains(mine, l) {
				got = append(got, l)
			}
		}
		// stdout and stderr are read apart: their order between them is not kept.
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("logs?%s = %q, want %q", tt.query, got, want)
		}
	}

	// Deleting the app stops its processes and removes its repository and releases.
	sts, err := node.NewClient(ts.dataDir).List(context.Background())
	if err != nil || len(sts) != 1 || len(sts[0].Replicas) != 1 {
		t.Fatalf("workloads before delete: %+v %v", sts, err)
	}
	pid := sts[0].Replicas[0].PID
	var deleted map[string]string
	decode(t, ts.must(http.MethodDelete, "/api/apps/shop", nil, 200), &deleted)
	if deleted["deleted"] != "shop" {
		t.Errorf("delete answered %v", deleted)
	}
	for _, dir := range []string{ts.repoDir("shop"), filepath.Join(ts.dataDir, "releases", "shop"), filepath.Join(ts.dataDir, "appdata", "shop")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there after delete (%v)", dir, err)
		}
	}
	if sts, err := node.NewClient(ts.dataDir).List(context.Background()); err != nil || len(sts) != 0 {
		t.Errorf("workloads after delete: %+v %v", sts, err)
	}
	if pid > 0 && processAlive(pid) {
		t.Errorf("the app's process %d still runs after delete", pid)
	}
	ts.must(http.MethodGet, "/api/apps/shop", nil, http.StatusNotFound)
	req, _ := http.NewRequest(http.MethodGet, ts.RouterURL()+"/", nil)
	req.Host = "shop.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the router still serves a deleted app: %d", resp.StatusCode)
	}
	// The name is free again.
	ts.createApp("shop")
}

func TestDeployOfABadUploadFailsCleanly(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	r := ts.must(http.MethodPost, "/api/apps/shop/deploys", "this is not a gzip tarball", 200)
	msgs := messages(t, r)
	last := msgs[len(msgs)-1]
	if last.Error == nil || last.Error.Error == "" || !strings.Contains(last.Error.Hint, "the live release was not touched") {
		t.Fatalf("deploy of garbage ended with %+v:\n%s", last, r.body)
	}
	var rels []map[string]any
	decode(t, ts.must(http.MethodGet, "/api/apps/shop/releases", nil, 200), &rels)
	if len(rels) != 1 || rels[0]["status"] != "failed" {
		t.Fatalf("releases = %v", rels)
	}
	if reasons, _ := rels[0]["reasons"].([]any); len(reasons) == 0 {
		t.Errorf("the failed release says no reason: %v", rels[0])
	}

	// Rolling back with no body at all: nothing to roll back to, said in the stream.
	r = ts.must(http.MethodPost, "/api/apps/shop/rollback", nil, 200)
	msgs = messages(t, r)
	if e := msgs[len(msgs)-1].Error; e == nil || !strings.Contains(e.Error, "no earlier release") || !strings.Contains(e.Hint, "prosper releases shop") {
		t.Errorf("rollback with nothing to go back to: %s", r.body)
	}
}
