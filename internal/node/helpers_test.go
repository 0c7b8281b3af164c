package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// Binaries built once by TestMain.
var (
	nodeBin string // testdata/nodemain: a node process, as `prosper node`
	appBin  string // testdata/testapp: the HTTP app the workloads run
)

// spawnerEnv makes the test binary act as a spawner that calls Spawn, prints the
// node's Info and blocks, so a test can kill the spawner and watch the node live on.
const spawnerEnv = "PROSPER_NODE_TEST_SPAWNER_DATA_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(spawnerEnv); dir != "" {
		runSpawner(dir)
		return
	}
	tmp, err := os.MkdirTemp("", "prosper-node-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBin = filepath.Join(tmp, "nodemain")
	appBin = filepath.Join(tmp, "testapp")
	for bin, pkg := range map[string]string{nodeBin: "./testdata/nodemain", appBin: "./testdata/testapp"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func runSpawner(dir string) {
	_, info, err := Spawn(context.Background(), SpawnOptions{
		Exe:     os.Getenv("PROSPER_NODE_TEST_NODE_BIN"),
		Args:    []string{"--data-dir", dir, "--http", "127.0.0.1:0"},
		DataDir: dir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(info)
	select {} // until killed
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestSupervisor returns a Supervisor whose workloads are stopped at the end
// of the test.
func newTestSupervisor(t *testing.T, stopTimeout time.Duration) *Supervisor {
	t.Helper()
	s, err := NewSupervisor(SupervisorConfig{DataDir: t.TempDir(), Logger: testLogger(), StopTimeout: stopTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

// appSpec runs testapp as release rel of app; env adds to its environment.
func appSpec(t *testing.T, app string, rel int, health string, env map[string]string) runtime.Spec {
	t.Helper()
	return runtime.Spec{
		ID: fmt.Sprintf("%s-v%d", app, rel), App: app, Release: rel,
		Artifact: t.TempDir(), Command: "exec " + appBin,
		Env: env, HealthPath: health,
	}
}

// shSpec runs a shell command as release rel of app.
func shSpec(t *testing.T, app string, rel int, command string) runtime.Spec {
	t.Helper()
	return runtime.Spec{
		ID: fmt.Sprintf("%s-v%d", app, rel), App: app, Release: rel,
		Artifact: t.TempDir(), Command: command,
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusOf returns the workload's status, or a zero Status when it is not listed.
func statusOf(t *testing.T, rt runtime.Runtime, id string) runtime.Status {
	t.Helper()
	list, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		if st.ID == id {
			return st
		}
	}
	return runtime.Status{}
}

// waitReady waits until every replica of the workload is healthy.
func waitReady(t *testing.T, rt runtime.Runtime, id string) runtime.Status {
	t.Helper()
	var st runtime.Status
	waitFor(t, 20*time.Second, id+" to be ready", func() bool {
		st = statusOf(t, rt, id)
		return st.Ready()
	})
	return st
}

// collectLogs returns the stored lines that match q (without following).
func collectLogs(t *testing.T, rt runtime.Runtime, q runtime.LogQuery) []runtime.LogLine {
	t.Helper()
	var out []runtime.LogLine
	err := rt.Logs(context.Background(), q, func(l runtime.LogLine) error {
		out = append(out, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func mkfifo(path string) error {
	return syscall.Mkfifo(path, 0o644)
}
