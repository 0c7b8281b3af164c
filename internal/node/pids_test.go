package node

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startGroup runs a shell command as the leader of a new process group and
// returns it with the pid record a node would have written for it.
func startGroup(t *testing.T, command string) (*exec.Cmd, pidRecord) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	st, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, pidRecord{PGID: cmd.Process.Pid, StartTime: st.startTime, Cmdline: readCmdline(cmd.Process.Pid), Workload: "w", Replica: 0}
}

func writePidFile(t *testing.T, path string, recs ...pidRecord) {
	t.Helper()
	b, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKillLeftovers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), pidFileName)

	// A group whose leader still runs: killed.
	leader, leaderRec := startGroup(t, "exec sleep 300")
	// A pid that now belongs to another process (its start time differs): spared.
	other, otherRec := startGroup(t, "exec sleep 300")
	otherRec.StartTime++
	// A group whose leader is gone but whose child lives on (the leader died of
	// its parent-death signal): the child is killed.
	orphanDir := t.TempDir()
	orphanLeader, orphanRec := startGroup(t, "sleep 300 & echo $! > "+orphanDir+"/child; exit 0")
	if err := orphanLeader.Wait(); err != nil {
		t.Fatal(err)
	}
	child := readPid(t, filepath.Join(orphanDir, "child"))

	writePidFile(t, path, leaderRec, otherRec, orphanRec)
	if err := killLeftovers(path, testLogger()); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 5*time.Second, "the recorded leader to die", func() bool { return !processAlive(leader.Process.Pid) })
	waitFor(t, 5*time.Second, "the orphaned child to die", func() bool { return !processAlive(child) })
	if !processAlive(other.Process.Pid) {
		t.Error("a process whose start time does not match the record was killed")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("pid file still there after cleanup: %v", err)
	}
	// No file, no error.
	if err := killLeftovers(path, testLogger()); err != nil {
		t.Errorf("killLeftovers without a file = %v", err)
	}
}

func TestPidFileTracksReplicas(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	spec := shSpec(t, "tracked", 1, "exec sleep 300")
	spec.Replicas = 2
	if err := s.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	path := s.pids.path
	read := func() []pidRecord {
		var recs []pidRecord
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &recs)
		}
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return recs
	}
	waitFor(t, 10*time.Second, "two recorded groups", func() bool { return len(read()) == 2 })
	for _, r := range read() {
		st, err := readProcStat(r.PGID)
		if err != nil || st.startTime != r.StartTime || r.Workload != spec.ID {
			t.Errorf("record %+v does not match a running replica (%v)", r, err)
		}
	}
	if err := s.Stop(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if recs := read(); len(recs) != 0 {
		t.Errorf("records after Stop = %+v, want none", recs)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 5*time.Second, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}
