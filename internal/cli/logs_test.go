package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

// appScript writes lines of several levels, then serves HTTP on $PORT.
const appScript = `echo 'level=info msg=started'
echo '[ERROR] cannot reach the cache'
echo 'plain stderr line' >&2
exec python3 -m http.server "$PORT" --bind 127.0.0.1
`

// deployScriptApp deploys appScript to app with prosper deploy.
func deployScriptApp(t *testing.T, app string) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "Procfile"), "web: sh app.sh\n")
	write(t, filepath.Join(dir, "app.sh"), appScript)
	out := ok(t, "deploy", dir, "--app", app)
	if !strings.Contains(out, app+" v1 is live: http://"+app+".localhost:") || !strings.Contains(out, "----->") {
		t.Fatalf("deploy prints:\n%s", out)
	}
}

// lockedBuffer is written by a command running in another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogs(t *testing.T) {
	p := startPlatform(t)
	ok(t, "app", "create", "shop")
	deployScriptApp(t, "shop")

	// The lines reach the node's log store asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ok(t, "logs", "shop"), "plain stderr line") {
		if time.Now().After(deadline) {
			t.Fatalf("the app's lines never showed up:\n%s", ok(t, "logs", "shop"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := ok(t, "logs", "shop", "--release", "v1", "--since", "1h")
	for _, want := range []string{" v1/0 stdout level=info msg=started\n", " v1/0 stdout [ERROR] cannot reach the cache\n", " v1/0 stderr plain stderr line\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	out = ok(t, "logs", "shop", "--level", "error")
	if !strings.Contains(out, "[ERROR] cannot reach the cache") || !strings.Contains(out, "plain stderr line") || strings.Contains(out, "started") {
		t.Errorf("logs --level error:\n%s", out)
	}
	if out := ok(t, "logs", "shop", "--grep", "cache"); strings.Count(out, "\n") != 1 {
		t.Errorf("logs --grep cache:\n%s", out)
	}
	if out := ok(t, "logs", "shop", "--release", "2"); out != "" {
		t.Errorf("logs of a release that does not exist:\n%s", out)
	}
	fails(t, []string{`level "loud" is not known`}, "logs", "shop", "--level", "loud")
	out = ok(t, "logs", "shop", "-o", "json", "--level", "info")
	var n int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l runtime.LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.App != "shop" || l.Release != 1 || l.Time.IsZero() {
			t.Errorf("logs -o json line %q: %+v %v", line, l, err)
		}
		n++
	}
	if n == 0 {
		t.Error("logs -o json printed nothing")
	}

	// Following ends with an error, not a silent success, when the node goes
	// away under it.
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- Main([]string{"logs", "shop", "-f"}, strings.NewReader(""), &stdout, &stderr) }()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "plain stderr line") {
		if time.Now().After(deadline) {
			t.Fatalf("logs -f printed nothing:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.NewClient(p.dataDir).Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		line := strings.TrimSpace(stderr.String())
		if code != 1 || !strings.HasPrefix(line, "error: ") || strings.Contains(line, "\n") || !strings.Contains(line, "node") {
			t.Errorf("logs -f when the node stopped: exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("logs -f did not end when the node stopped")
	}
	if strings.Contains(stdout.String(), " v0/0 ") {
		t.Errorf("logs -f printed an empty line for the error:\n%s", stdout.String())
	}

	// With the node down from the start, the error says what to do.
	fails(t, []string{"the prosper node is not running", "prosper up"}, "logs", "shop")
	_ = os.Remove(filepath.Join(p.dataDir, "node.sock"))
}
