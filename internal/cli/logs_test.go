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

	// With the node down from the start, the error says what to do. The
	// stream above ends before the node stops serving its socket, so wait
	// until it is down.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ictx, icancel := context.WithTimeout(context.Background(), time.Second)
		_, err := node.NewClient(p.dataDir).Info(ictx)
		icancel()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node still answers 15s after its shutdown")
		}
	}
	fails(t, []string{"the prosper node is not running", "prosper up"}, "logs", "shop")
	_ = os.Remove(filepath.Join(p.dataDir, "node.sock"))
}

// TestLogsCrashesFieldsAndHostileLines deploys an app whose first process
// writes a JSON line and a line of terminal escapes, prints boom and exits 2;
// the next one serves.
func TestLogsCrashesFieldsAndHostileLines(t *testing.T) {
	startPlatform(t)
	ok(t, "app", "create", "crashy")
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "crashed-once")
	write(t, filepath.Join(dir, "Procfile"), "web: sh app.sh\n")
	write(t, filepath.Join(dir, "app.sh"), `echo '{"level":"error","msg":"db down","attempt":3}'
printf 'hostile \033[2J\033]0;pwned\007 line\n'
if [ ! -f `+marker+` ]; then touch `+marker+`; echo "about to crash"; echo boom; exit 2; fi
exec python3 -m http.server "$PORT" --bind 127.0.0.1
`)
	ok(t, "deploy", dir, "--app", "crashy")

	out := ok(t, "logs", "crashy", "--crashes")
	for _, want := range []string{" v1/0 crashed: exit code 2\n", " v1/0 stdout about to crash\n", " v1/0 stdout boom\n", `hostile \x1b[2J\x1b]0;pwned\x07 line`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs --crashes lacks %q:\n%s", want, out)
		}
	}
	var crashes []node.Crash
	if err := json.Unmarshal([]byte(ok(t, "logs", "crashy", "--crashes", "-o", "json", "--since", "1d")), &crashes); err != nil ||
		len(crashes) != 1 || crashes[0].ExitCode != 2 || crashes[0].Lines[len(crashes[0].Lines)-1].Text != "boom" {
		t.Errorf("logs --crashes -o json: %v %+v", err, crashes)
	}

	out = ok(t, "logs", "crashy")
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `\x1b]0;pwned\x07`) {
		t.Errorf("logs prints terminal escapes unescaped:\n%q", out)
	}
	// --level warn is warn or worse: the JSON error line, not the info ones.
	out = ok(t, "logs", "crashy", "--level", "warn")
	if !strings.Contains(out, `"msg":"db down"`) || strings.Contains(out, "about to crash") {
		t.Errorf("logs --level warn:\n%s", out)
	}
	// The search ignores case; -o json carries the fields of a JSON line.
	out = ok(t, "logs", "crashy", "--grep", "DB DOWN", "-o", "json", "--limit", "1")
	var l runtime.LogLine
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Level != "error" || l.Msg != "db down" || l.Fields["attempt"] != 3.0 {
		t.Errorf("logs --grep -o json = %v %s", err, out)
	}
	// --limit keeps the newest lines, printed oldest first.
	out = ok(t, "logs", "crashy", "--grep", "hostile", "--limit", "1")
	if strings.Count(out, "\n") != 1 {
		t.Errorf("logs --limit 1:\n%s", out)
	}
	if out := ok(t, "logs", "crashy", "--crashes", "--since", "1ns"); !strings.Contains(out, "no crash of crashy recorded") {
		t.Errorf("logs --crashes --since 1ns:\n%s", out)
	}
}

func TestEscapeTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain line é 日本": "plain line é 日本",
		"\x1b[31mred":     `\x1b[31mred`,
		"a\tb\r\n":        `a\tb\x0d\x0a`,
		"bad \xff byte":   `bad \xff byte`,
		"rtl \u202e flip": `rtl \u202e flip`,
		"c1 \u009b csi":   `c1 \u009b csi`,
	} {
		if got := escapeTerminal(in); got != want {
			t.Errorf("escapeTerminal(%q) = %q, want %q", in, got, want)
		}
	}
}
