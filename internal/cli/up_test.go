package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
)

func TestParseLogAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // -1: no limit
		err  string
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"36h", 36 * time.Hour, ""},
		{" 90m ", 90 * time.Minute, ""},
		{"1m", time.Minute, ""},
		{"0", -1, ""},
		{"0d", -1, ""},
		{"7days", 0, `"7days" is not an age`},
		{"soon", 0, "write days like 7d"},
		{"", 0, "is not an age"},
		{"1.5d", 0, "is not an age"},
		{"-1h", 0, "is negative"},
		{"-2d", 0, "is not an age"},
		{"30s", 0, "too short"},
		{"99999d", 0, "is not an age"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLogAge(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseLogAge(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseLogAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	// The default shows as days in --help.
	if f := logAgeFlag(node.DefaultLogMaxAge); f.String() != "7d" {
		t.Errorf("default shows as %q, want 7d", f.String())
	}
}

func TestUpRefusesABadLogMaxAge(t *testing.T) {
	isolate(t)
	t.Setenv("PROSPER_LOG_MAX_AGE", "")
	fails(t, []string{`invalid argument "7days" for "--log-max-age"`, "write days like 7d"}, "up", "--log-max-age", "7days")
	fails(t, []string{`"10s" is too short`}, "up", "--log-max-age", "10s")

	// A bad environment variable: the real binary, so that a regression that
	// starts the platform instead ends with the deadline, not a hung test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prosperBin, "up", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PROSPER_LOG_MAX_AGE=a week")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `error: PROSPER_LOG_MAX_AGE: "a week" is not an age`) {
		t.Fatalf("prosper up with PROSPER_LOG_MAX_AGE=\"a week\": %v\n%s", err, out)
	}
}

// TestUpLogMaxAgeReachesTheNode runs `prosper up --log-max-age 2h` and sees the
// node's supervisor delete a log file last written 3 hours ago, which the
// default age (7 days) keeps, and keep one written an hour ago.
func TestUpLogMaxAgeReachesTheNode(t *testing.T) {
	isolate(t)
	t.Setenv("PROSPER_LOG_MAX_AGE", "")
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	// The sweep reads the directory in name order: fresh before stale, so once
	// stale is gone the sweep has judged fresh too.
	fresh, stale := filepath.Join(logs, "fresh.log"), filepath.Join(logs, "stale.log")
	for path, age := range map[string]time.Duration{fresh: time.Hour, stale: 3 * time.Hour} {
		write(t, path, `{"time":"2020-01-01T00:00:00Z","app":"x","stream":"stdout","text":"old"}`+"\n")
		at := time.Now().Add(-age)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.NewClient(dir).Shutdown(ctx)
	})
	up := exec.Command(prosperBin, "up", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-max-age", "2h")
	out := &lockedBuffer{}
	up.Stdout, up.Stderr = out, out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		_ = up.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("prosper up did not stop cleanly: %v\n%s", err, out)
			}
		case <-time.After(40 * time.Second):
			_ = up.Process.Kill()
			t.Errorf("prosper up did not stop on Ctrl-C:\n%s", out)
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for exists(stale) || !strings.Contains(out.String(), "is up") {
		select {
		case err := <-exited:
			exited <- err // for the deferred stop
			t.Fatalf("prosper up exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node kept a log file 3 hours old with --log-max-age 2h\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !exists(fresh) {
		t.Error("the node deleted a log file an hour old with --log-max-age 2h")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
