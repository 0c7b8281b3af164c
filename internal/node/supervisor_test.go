package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSupervisorStartListStop(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, 5*time.Second)
	ctx := context.Background()
	spec := appSpec(t, "shop", 1, "/healthz", map[string]string{"GREETING": "v1", "PORT": "1"})
	spec.Replicas = 2
	if err := s.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, s, spec.ID)
	if st.App != "shop" || st.Release != 1 || len(st.Replicas) != 2 {
		t.Fatalf("status = %+v, want app shop release 1 with 2 replicas", st)
	}
	if st.Replicas[0].Addr == st.Replicas[1].Addr {
		t.Fatalf("both replicas listen on %s", st.Replicas[0].Addr)
	}
	for _, r := range st.Replicas {
		if r.State != runtime.StateRunning || r.PID == 0 || r.StartedAt.IsZero() {
			t.Errorf("replica %d = %+v, want running with a pid and a start time", r.Index, r)
		}
		if got := httpGet(t, "http://"+r.Addr+"/"); got != "hello from v1" {
			t.Errorf("replica %d answers %q", r.Index, got)
		}
	}

	// The app sees a small base environment, its own variables, and the PORT
	// the runtime chose (which wins over one set in the spec); the shell adds
	// PWD and the like.
	var env []string
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+st.Replicas[0].Addr+"/env")), &env); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(st.Replicas[0].Addr, ":")
	for _, want := range []string{"GREETING=v1", "PORT=" + port} {
		if !slices.Contains(env, want) {
			t.Errorf("app environment %q lacks %q", env, want)
		}
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"PATH", "HOME", "LANG", "TMPDIR", "GREETING", "PORT", "PWD", "SHLVL", "_"}, k) {
			t.Errorf("app environment has %s, which the node should not pass on", kv)
		}
	}

	// Starting the same ID again is a no-op: the same processes keep running.
	if err := s.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	again := statusOf(t, s, spec.ID)
	for i := range again.Replicas {
		if again.Replicas[i].PID != st.Replicas[i].PID {
			t.Errorf("replica %d restarted by a repeated Start: pid %d -> %d", i, st.Replicas[i].PID, again.Replicas[i].PID)
		}
	}

	if err := s.Stop(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Replicas {
		if processAlive(r.PID) {
			t.Errorf("replica %d (pid %d) still runs after Stop", r.Index, r.PID)
		}
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Errorf("List after Stop = %+v, want empty", list)
	}
	if err := s.Stop(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("second Stop = %v, want ErrNotFound", err)
	}
}

func TestSupervisorRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	dir := t.TempDir()
	tests := []struct {
		name string
		spec runtime.Spec
		want string
	}{
		{"no id", runtime.Spec{App: "a", Artifact: dir, Command: "true"}, "workload id"},
		{"app with slash", runtime.Spec{ID: "x", App: "../a", Artifact: dir, Command: "true"}, "app"},
		{"no command", runtime.Spec{ID: "x", App: "a", Artifact: dir}, "no command"},
		{"missing artifact", runtime.Spec{ID: "x", App: "a", Artifact: filepath.Join(dir, "nope"), Command: "true"}, "artifact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Start(context.Background(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestSupervisorProbes(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	ctx := context.Background()
	tests := []struct {
		name        string
		spec        runtime.Spec
		wantHealthy bool
	}{
		{"tcp port open", appSpec(t, "tcp-open", 1, "", nil), true},
		{"http 200", appSpec(t, "http-ok", 1, "/healthz", nil), true},
		{"http 302 counts as up", appSpec(t, "http-redirect", 1, "healthz", map[string]string{"HEALTH_STATUS": "302"}), true},
		{"http 503", appSpec(t, "http-down", 1, "/healthz", map[string]string{"HEALTH_STATUS": "503"}), false},
		{"http 404", appSpec(t, "http-missing", 1, "/healthz", map[string]string{"HEALTH_STATUS": "404"}), false},
		{"tcp port closed", shSpec(t, "tcp-closed", 1, "exec sleep 60"), false},
	}
	for _, tt := range tests {
		if err := s.Start(ctx, tt.spec); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		if tt.wantHealthy {
			waitReady(t, s, tt.spec.ID)
		}
	}
	// The failing HTTP apps log each probe they answer; after three probes
	// they must still be out of rotation.
	for _, tt := range tests {
		if tt.wantHealthy || tt.spec.HealthPath == "" {
			continue
		}
		waitFor(t, 10*time.Second, tt.name+" to be probed 3 times", func() bool {
			lines := collectLogs(t, s, runtime.LogQuery{App: tt.spec.App, Grep: "health check answered"})
			return len(lines) >= 3
		})
	}
	for _, tt := range tests {
		st := statusOf(t, s, tt.spec.ID)
		if st.Ready() != tt.wantHealthy {
			t.Errorf("%s: ready = %v, want %v (%+v)", tt.name, st.Ready(), tt.wantHealthy, st.Replicas)
		}
		if !tt.wantHealthy && st.Replicas[0].State != runtime.StateStarting {
			t.Errorf("%s: state = %s, want %s", tt.name, st.Replicas[0].State, runtime.StateStarting)
		}
	}
}

func TestSupervisorUnhealthyAfterThreeFailures(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	spec := appSpec(t, "flaky", 1, "/healthz", nil)
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, s, spec.ID)
	if err := os.WriteFile(filepath.Join(spec.Artifact, "unhealthy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var st runtime.Status
	waitFor(t, 15*time.Second, "the replica to turn unhealthy", func() bool {
		st = statusOf(t, s, spec.ID)
		return !st.Replicas[0].Healthy
	})
	// Probes run every 2s once healthy; one failure must not be enough.
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("unhealthy after %s, want three failed probes (about 6s)", d)
	}
	if st.Replicas[0].State != runtime.StateStarting || st.Replicas[0].Restarts != 0 {
		t.Errorf("replica = %+v, want starting without restart", st.Replicas[0])
	}
	if err := os.Remove(filepath.Join(spec.Artifact, "unhealthy")); err != nil {
		t.Fatal(err)
	}
	waitReady(t, s, spec.ID)
}

func TestSupervisorCrashLoop(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	spec := shSpec(t, "crashy", 1, `echo "starting" ; echo "boom: no database" >&2 ; exit 3`)
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	// Record each exit as it happens to measure the back-off between them.
	var exits []time.Time
	var st runtime.Status
	waitFor(t, 20*time.Second, "four exits", func() bool {
		st = statusOf(t, s, spec.ID)
		r := st.Replicas[0]
		if !r.LastExitAt.IsZero() && (len(exits) == 0 || !r.LastExitAt.Equal(exits[len(exits)-1])) {
			exits = append(exits, r.LastExitAt)
		}
		return len(exits) >= 4
	})
	r := st.Replicas[0]
	if r.LastExit != "exit code 3" {
		t.Errorf("LastExit = %q, want %q", r.LastExit, "exit code 3")
	}
	if r.Restarts < 3 {
		t.Errorf("Restarts = %d, want at least 3", r.Restarts)
	}
	if !slices.Contains(r.StderrTail, "boom: no database") || slices.Contains(r.StderrTail, "starting") {
		t.Errorf("StderrTail = %q, want the stderr lines only", r.StderrTail)
	}
	if len(r.StderrTail) > stderrTailLines {
		t.Errorf("StderrTail has %d lines, want at most %d", len(r.StderrTail), stderrTailLines)
	}
	if !st.CrashLooping() || r.Healthy {
		t.Errorf("status = %+v, want crash looping", st)
	}
	// 0.5s, 1s, 2s: each wait about twice the previous.
	for i := 1; i < len(exits); i++ {
		gap := exits[i].Sub(exits[i-1])
		want := defaultBackoff.initial << (i - 1)
		if gap < want || gap > want+want/2+300*time.Millisecond {
			t.Errorf("gap before exit %d = %s, want about %s", i+1, gap, want)
		}
	}
	// Every run's output is in the app's log.
	if n := len(collectLogs(t, s, runtime.LogQuery{App: "crashy", Grep: "starting"})); n < 4 {
		t.Errorf("log has %d start lines, want one per run (4)", n)
	}
}

func TestBackoffPolicy(t *testing.T) {
	p := backoffPolicy{initial: 500 * time.Millisecond, max: 30 * time.Second, resetAfter: time.Minute}
	tests := []struct {
		prev, healthyFor, want time.Duration
	}{
		{500 * time.Millisecond, 0, time.Second},
		{16 * time.Second, 0, 30 * time.Second},
		{30 * time.Second, 59 * time.Second, 30 * time.Second},
		{30 * time.Second, time.Minute, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := p.next(tt.prev, tt.healthyFor); got != tt.want {
			t.Errorf("next(%s, healthy %s) = %s, want %s", tt.prev, tt.healthyFor, got, tt.want)
		}
	}
}

func TestSupervisorRestartsKilledReplica(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	spec := appSpec(t, "victim", 1, "/healthz", nil)
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	before := waitReady(t, s, spec.ID).Replicas[0]
	if err := killPid(before.PID); err != nil {
		t.Fatal(err)
	}
	var after runtime.ReplicaStatus
	waitFor(t, 20*time.Second, "the replica to be restarted and ready", func() bool {
		after = statusOf(t, s, spec.ID).Replicas[0]
		return after.Healthy && after.PID != before.PID && after.PID != 0
	})
	if after.LastExit != "killed by signal SIGKILL" || after.LastExitAt.IsZero() {
		t.Errorf("LastExit = %q at %v, want killed by signal SIGKILL", after.LastExit, after.LastExitAt)
	}
	if after.Restarts != 1 || after.Addr != before.Addr {
		t.Errorf("after restart: restarts %d addr %s, want 1 and the same address %s", after.Restarts, after.Addr, before.Addr)
	}
}

func TestSupervisorStopKillsGroupAndEscalates(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, 500*time.Millisecond)
	spec := appSpec(t, "stubborn", 1, "", map[string]string{"IGNORE_TERM": "1"})
	// The shell starts a background child first: Stop must kill the whole group.
	spec.Command = "sleep 300 & echo $! > child.pid; exec " + appBin
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	app := waitReady(t, s, spec.ID).Replicas[0]
	child := readPid(t, filepath.Join(spec.Artifact, "child.pid"))
	start := time.Now()
	if err := s.Stop(context.Background(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("Stop took %s; an app ignoring SIGTERM should get the whole stop timeout", d)
	}
	if processAlive(app.PID) {
		t.Errorf("app pid %d survived Stop", app.PID)
	}
	waitFor(t, 5*time.Second, "the background child to die", func() bool { return !processAlive(child) })
}

// TestSupervisorNice: a workload with Nice runs at that CPU priority, as the
// candidates of mirror production do, and one without at the node's own.
func TestSupervisorNice(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	low := appSpec(t, "low", 1, "/healthz", nil)
	low.Nice = 10
	normal := appSpec(t, "normal", 1, "/healthz", nil)
	for _, spec := range []runtime.Spec{low, normal} {
		if err := s.Start(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	nice := func(pid int) int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// Fields after the command, which is in parentheses: state is 3rd,
		// nice the 19th of the whole line.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		n, err := strconv.Atoi(fields[16])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	own := nice(os.Getpid())
	if got := nice(waitReady(t, s, low.ID).Replicas[0].PID); got != 10 {
		t.Errorf("nice of the low-priority workload = %d, want 10", got)
	}
	if got := nice(waitReady(t, s, normal.ID).Replicas[0].PID); got != own {
		t.Errorf("nice of the normal workload = %d, want the node's %d", got, own)
	}
}
