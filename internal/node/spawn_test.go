package node

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spawnNode spawns nodemain on dir and shuts it down at the end of the test.
func spawnNode(t *testing.T, dir string) (*Client, Info) {
	t.Helper()
	c, info, err := Spawn(context.Background(), SpawnOptions{
		Exe: nodeBin, Args: []string{"--data-dir", dir, "--http", "127.0.0.1:0"}, DataDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c, info
}

func TestSpawnDetachesAndShutdownStopsApps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, info := spawnNode(t, dir)
	if sid, err := unix.Getsid(info.PID); err != nil || sid != info.PID {
		t.Errorf("node session = %d (%v), want its own session %d", sid, err, info.PID)
	}
	spec := appSpec(t, "shop", 1, "/healthz", nil)
	if err := c.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	app := waitReady(t, c, spec.ID).Replicas[0].PID

	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if processAlive(info.PID) {
		t.Error("the node still runs after Shutdown returned")
	}
	if processAlive(app) {
		t.Error("the app still runs after the node shut down")
	}
	log, err := os.ReadFile(filepath.Join(dir, nodeLogName))
	if err != nil || !strings.Contains(string(log), "node ready") || !strings.Contains(string(log), "node stopped") {
		t.Errorf("node.log = %q (%v), want the node's ready and stopped lines", log, err)
	}
}

func TestSpawnedNodeSurvivesSpawnerKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spawner := exec.Command(os.Args[0], "-test.run=^$")
	spawner.Env = append(os.Environ(), spawnerEnv+"="+dir, "PROSPER_NODE_TEST_NODE_BIN="+nodeBin)
	spawner.Stderr = os.Stderr
	out, err := spawner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := spawner.Start(); err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		spawner.Process.Kill()
		spawner.Wait()
		t.Fatalf("read the spawned node's info: %v", err)
	}
	c := NewClient(dir)
	t.Cleanup(func() {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})

	if err := spawner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = spawner.Wait()
	got, err := c.Info(context.Background())
	if err != nil || got.PID != info.PID {
		t.Fatalf("after the spawner's death: info %+v, %v; want the node pid %d answering", got, err, info.PID)
	}
}

func TestSpawnReportsAddrInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	_, _, err = Spawn(context.Background(), SpawnOptions{
		Exe: nodeBin, Args: []string{"--data-dir", dir, "--http", l.Addr().String()}, DataDir: dir,
	})
	want := "router address " + l.Addr().String() + " is in use: stop the program using it or pass --http ADDR"
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), want) {
		t.Errorf("Spawn = %v, want an error saying %q", err, want)
	}
}

func TestSpawnReportsMissingProgram(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, err := Spawn(context.Background(), SpawnOptions{Exe: filepath.Join(dir, "nope"), DataDir: dir})
	if err == nil {
		t.Fatal("Spawn of a missing program: no error")
	}
}

func TestNextNodeKillsWhatAKilledNodeLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, info, err := Spawn(context.Background(), SpawnOptions{
		Exe: nodeBin, Args: []string{"--data-dir", dir, "--http", "127.0.0.1:0"}, DataDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := appSpec(t, "orphan", 1, "", nil)
	spec.Command = "sleep 300 & echo $! > child.pid; exec " + appBin
	if err := c.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	app := waitReady(t, c, spec.ID).Replicas[0].PID
	child := readPid(t, filepath.Join(spec.Artifact, "child.pid"))

	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The app dies with the node (parent-death signal); the shell's background
	// child is out of the node's reach until the next node starts.
	waitFor(t, 10*time.Second, "the app to die with the node", func() bool { return !processAlive(app) })
	if !processAlive(child) {
		t.Fatal("the background child died with the node; the test cannot check the cleanup")
	}

	spawnNode(t, dir)
	waitFor(t, 10*time.Second, "the next node to kill the leftover child", func() bool { return !processAlive(child) })
}
