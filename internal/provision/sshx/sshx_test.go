package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// newHost starts a real sshd in a network namespace that accepts a fresh key,
// and returns it with a Config that logs in with that key and trusts the
// host on first use.
func newHost(t *testing.T, opts testhost.Options) (*testhost.Host, Config) {
	t.Helper()
	h := testhost.New(t, opts)
	_, authorized, signer, err := GenerateKey("prosper-test")
	if err != nil {
		t.Fatal(err)
	}
	h.Authorize(authorized)
	kh, err := NewKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	return h, Config{Addr: h.Addr(), Signer: signer, HostKeyCallback: kh.Callback(), Timeout: 5 * time.Second}
}

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRun(t *testing.T) {
	_, cfg := newHost(t, testhost.Options{})
	c := dial(t, cfg)
	tests := []struct {
		cmd            string
		stdout, stderr string
		exit           int
	}{
		{cmd: "echo hello", stdout: "hello\n"},
		{cmd: "echo oops >&2; exit 3", stderr: "oops\n", exit: 3},
		{cmd: "whoami", stdout: "root\n"},
		{cmd: "false", exit: 1},
		{cmd: "printf 'a\\nb'; printf e >&2; exit 42", stdout: "a\nb", stderr: "e", exit: 42},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			stdout, stderr, exit, err := c.Run(context.Background(), tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != tt.stdout || stderr != tt.stderr || exit != tt.exit {
				t.Fatalf("got (%q, %q, %d), want (%q, %q, %d)", stdout, stderr, exit, tt.stdout, tt.stderr, tt.exit)
			}
		})
	}
	if _, err := c.Output(context.Background(), "echo broken >&2; exit 2"); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Output of a failing command: %v, want an error with its stderr", err)
	}
}

func TestRunCancelKillsRemoteCommand(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{})
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, _, err := c.Run(ctx, "sleep 31.7")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run returned %s after its context ended", d)
	}
	// The remote sleep must be gone, not merely abandoned.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := h.Exec(context.Background(), "pgrep -f 'sleep 31[.]7' || true")
		if strings.TrimSpace(out) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote command still running after cancel: pids %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The connection stays usable.
	if out, err := c.Output(context.Background(), "echo still"); err != nil || out != "still\n" {
		t.Fatalf("after cancel: %q, %v", out, err)
	}
}

func TestUpload20MiB(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{})
	c := dial(t, cfg)
	data := make([]byte, 20<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	const dst = "/opt/prosper-test/bin/blob"
	if err := c.Upload(context.Background(), bytes.NewReader(data), dst, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(h.Root(), dst))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("landed %d bytes that differ from the %d sent", len(got), len(data))
	}
	sum := sha256.Sum256(data)
	out, err := c.Output(context.Background(), "sha256sum "+dst+"; stat -c %a "+dst+"; ls -A /opt/prosper-test/bin")
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(sum[:]) + "  " + dst + "\n755\nblob\n"
	if out != want {
		t.Fatalf("on the host:\n%s\nwant:\n%s", out, want)
	}
}

func TestUploadFailureLeavesNothing(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{})
	c := dial(t, cfg)
	// A directory in the way makes the rename fail after the data landed.
	if _, err := h.Exec(context.Background(), "mkdir -p /opt/prosper-test/dir/target/x"); err != nil {
		t.Fatal(err)
	}
	err := c.Upload(context.Background(), strings.NewReader("data"), "/opt/prosper-test/dir/target", 0o644)
	if err == nil {
		t.Fatal("upload over a non-empty directory succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(h.Root(), "/opt/prosper-test/dir"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "target" {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestWaitForSSHHostStartsLate(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{Stopped: true})
	start := time.Now()
	h.StartAfter(2 * time.Second)
	c, err := WaitForSSH(context.Background(), cfg, Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond, Deadline: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("connected after %s, before sshd started", d)
	}
	if out, err := c.Output(context.Background(), "echo up"); err != nil || out != "up\n" {
		t.Fatalf("%q, %v", out, err)
	}
}

func TestWaitForSSHGivesUpWithReason(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{Stopped: true})
	start := time.Now()
	_, err := WaitForSSH(context.Background(), cfg, Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Deadline: 1500 * time.Millisecond})
	if !errors.Is(err, ErrConnectionRefused) {
		t.Fatalf("got %v, want connection refused", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %s, deadline was 1.5s", d)
	}
	if !regexp.MustCompile(`^wait for ssh on \S+: gave up after \ds and \d+ attempts: connection refused by ` +
		regexp.QuoteMeta(h.Addr()) + ` .* for [12]s$`).MatchString(err.Error()) {
		t.Errorf("error %q does not give the reason and its duration", err)
	}
}

func TestAuthFailureNamesTheKey(t *testing.T) {
	_, cfg := newHost(t, testhost.Options{})
	_, _, wrong, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signer = wrong
	_, err = Dial(context.Background(), cfg)
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("got %v, want authentication failed", err)
	}
	if !strings.Contains(err.Error(), "authentication failed: the key SHA256:") {
		t.Fatalf("error %q does not name the key", err)
	}
	// WaitForSSH keeps trying (cloud-init may not have installed the key
	// yet) and then reports the same reason.
	_, err = WaitForSSH(context.Background(), cfg, Backoff{Initial: 100 * time.Millisecond, Deadline: 500 * time.Millisecond})
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("WaitForSSH: got %v, want authentication failed", err)
	}
}

func TestHostKeyChangeDetected(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{})
	dial(t, cfg).Close()
	h.RotateHostKey()
	_, err := Dial(context.Background(), cfg)
	var mismatch *HostKeyMismatchError
	if !errors.Is(err, ErrHostKeyMismatch) || !errors.As(err, &mismatch) {
		t.Fatalf("got %v, want a host key mismatch", err)
	}
	if !strings.Contains(err.Error(), "host key mismatch for "+h.Addr()) {
		t.Fatalf("error %q", err)
	}
	// Waiting does not help, so WaitForSSH must not wait.
	start := time.Now()
	_, err = WaitForSSH(context.Background(), cfg, Backoff{Deadline: time.Minute})
	if !errors.Is(err, ErrHostKeyMismatch) || time.Since(start) > 10*time.Second {
		t.Fatalf("WaitForSSH: %v after %s", err, time.Since(start))
	}
}
