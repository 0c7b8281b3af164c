package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

func TestLogsFilter(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	ctx := context.Background()
	// A line from an hour ago, as a previous node would have left it.
	old := runtime.LogLine{Time: time.Now().Add(-time.Hour), App: "blog", Release: 1, Stream: "stdout", Text: "old needle"}
	if err := s.logs.Append(old); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []runtime.Spec{
		shSpec(t, "blog", 1, `echo one; echo "needle in v1" >&2; exec sleep 60`),
		shSpec(t, "blog", 2, `echo two; echo "needle in v2"; exec sleep 60`),
		shSpec(t, "other", 1, `echo "needle elsewhere"; exec sleep 60`),
	} {
		if err := s.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "every line to be stored", func() bool {
		return len(collectLogs(t, s, runtime.LogQuery{App: "blog"})) == 5 &&
			len(collectLogs(t, s, runtime.LogQuery{App: "other"})) == 1
	})

	// Lines of different processes interleave in any order, so compare sets.
	tests := []struct {
		name string
		q    runtime.LogQuery
		want []string
	}{
		{"all", runtime.LogQuery{App: "blog"}, []string{"needle in v1", "needle in v2", "old needle", "one", "two"}},
		{"release", runtime.LogQuery{App: "blog", Release: 2}, []string{"needle in v2", "two"}},
		{"grep", runtime.LogQuery{App: "blog", Grep: "needle in"}, []string{"needle in v1", "needle in v2"}},
		{"since", runtime.LogQuery{App: "blog", Since: 10 * time.Minute, Grep: "needle"}, []string{"needle in v1", "needle in v2"}},
		{"release and grep", runtime.LogQuery{App: "blog", Release: 1, Grep: "needle"}, []string{"needle in v1", "old needle"}},
		{"other app", runtime.LogQuery{App: "other"}, []string{"needle elsewhere"}},
		{"unknown app", runtime.LogQuery{App: "nothing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range collectLogs(t, s, tt.q) {
				got = append(got, l.Text)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
	// Each line says where it came from.
	for _, l := range collectLogs(t, s, runtime.LogQuery{App: "blog", Release: 1, Grep: "needle in"}) {
		if l.Stream != "stderr" || l.Replica != 0 || l.App != "blog" || l.Time.IsZero() {
			t.Errorf("line = %+v, want stderr of replica 0 of blog with a time", l)
		}
	}
	if err := s.Logs(ctx, runtime.LogQuery{App: "../etc/passwd"}, func(runtime.LogLine) error { return nil }); err == nil {
		t.Error("Logs of an app name with a path in it: no error")
	}
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Follow an app that has not written anything yet.
	got := make(chan runtime.LogLine, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.Logs(ctx, runtime.LogQuery{App: "live", Grep: "tick", Follow: true}, func(l runtime.LogLine) error {
			got <- l
			return nil
		})
	}()
	spec := shSpec(t, "live", 1, `echo "tick 1"; echo noise; read _ < fifo; echo "tick 2"; exec sleep 60`)
	if err := mkfifo(spec.Artifact + "/fifo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	expectLine(t, got, "tick 1")
	// The second line is written only now, after the follower has read the file.
	if err := os.WriteFile(spec.Artifact+"/fifo", []byte("go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectLine(t, got, "tick 2")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Logs after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Logs with Follow did not return after its context ended")
	}
}

func TestLogsCallbackErrorStops(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	for i := range 3 {
		if err := s.logs.Append(runtime.LogLine{Time: time.Now(), App: "a", Release: 1, Text: "line"}); err != nil {
			t.Fatal(i, err)
		}
	}
	stop := errors.New("enough")
	n := 0
	err := s.Logs(context.Background(), runtime.LogQuery{App: "a"}, func(runtime.LogLine) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Logs = %v after %d lines, want the callback's error after 1", err, n)
	}
}

func expectLine(t *testing.T, ch <-chan runtime.LogLine, text string) {
	t.Helper()
	select {
	case l := <-ch:
		if l.Text != text {
			t.Fatalf("followed line %q, want %q", l.Text, text)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no line %q within 10s", text)
	}
}

// rotationBase gives numbered lines a time with nanoseconds so that every line
// encodes to the same length.
var rotationBase = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)

// numberedLine is line i of app "chatty", of release 1 or 2 by parity.
func numberedLine(i int) runtime.LogLine {
	return runtime.LogLine{
		Time: rotationBase.Add(time.Duration(i) * time.Second), App: "chatty",
		Release: 1 + i%2, Stream: "stdout", Text: fmt.Sprintf("line %03d", i),
	}
}

// lineSize is the stored size of a numbered line.
func lineSize(t *testing.T) int64 {
	t.Helper()
	b, err := json.Marshal(storedLine(numberedLine(0)))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b)) + 1
}

// newRotatingStore returns a store whose files hold exactly linesPerFile
// numbered lines each.
func newRotatingStore(t *testing.T, linesPerFile int, keep int) *logStore {
	t.Helper()
	s, err := newLogStore(t.TempDir(), int64(linesPerFile)*lineSize(t)+lineSize(t)/2, keep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func appendNumbered(t *testing.T, s *logStore, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append(numberedLine(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// storedTexts returns the texts of the lines in one file, in order.
func storedTexts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var l runtime.LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		out = append(out, l.Text)
	}
	return out
}

func numberedTexts(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, numberedLine(i).Text)
	}
	return out
}

func queryTexts(t *testing.T, s *logStore, q runtime.LogQuery) []string {
	t.Helper()
	var out []string
	err := s.Query(context.Background(), q, func(l runtime.LogLine) error {
		out = append(out, l.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLogRotationAtLimit(t *testing.T) {
	t.Parallel()
	s := newRotatingStore(t, 10, 2)
	live, first := s.path("chatty", 0), s.path("chatty", 1)

	// Ten lines fit in the limit; the eleventh does not and starts a new file.
	appendNumbered(t, s, 0, 10)
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s after 10 lines: err = %v, want not to exist", first, err)
	}
	appendNumbered(t, s, 10, 11)
	if got, want := storedTexts(t, first), numberedTexts(0, 10); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", first, got, want)
	}
	if got, want := storedTexts(t, live), numberedTexts(10, 11); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", live, got, want)
	}

	// Four more rotations: only APP.log and the two newest rotated files stay.
	appendNumbered(t, s, 11, 55)
	for i, want := range [][]string{numberedTexts(50, 55), numberedTexts(40, 50), numberedTexts(30, 40)} {
		if got := storedTexts(t, s.path("chatty", i)); !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", s.path("chatty", i), got, want)
		}
	}
	files, err := filepath.Glob(filepath.Join(s.dir, "chatty.log*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("files = %q, want chatty.log, .1 and .2", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, fi.Mode().Perm())
		}
		if fi.Size() > s.maxBytes {
			t.Errorf("%s size = %d, want at most %d", f, fi.Size(), s.maxBytes)
		}
	}
}

func TestLogQueryAcrossRotatedFiles(t *testing.T) {
	t.Parallel()
	s := newRotatingStore(t, 10, 3)
	appendNumbered(t, s, 0, 65) // files of lines 30-39, 40-49, 50-59 and 60-64

	var odd []string
	for i := 31; i < 65; i += 2 {
		odd = append(odd, numberedLine(i).Text)
	}
	tests := []struct {
		name string
		q    runtime.LogQuery
		want []string
	}{
		{"all, oldest first", runtime.LogQuery{App: "chatty"}, numberedTexts(30, 65)},
		{"release", runtime.LogQuery{App: "chatty", Release: 2}, odd},
		{"grep in a rotated file", runtime.LogQuery{App: "chatty", Grep: "line 04"}, numberedTexts(40, 50)},
		{"grep across files", runtime.LogQuery{App: "chatty", Grep: "9"}, []string{"line 039", "line 049", "line 059"}},
		{"since excludes old lines", runtime.LogQuery{App: "chatty", Since: time.Hour}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryTexts(t, s, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogQuerySinceSkipsOldRotatedFiles(t *testing.T) {
	t.Parallel()
	s := newRotatingStore(t, 2, 3)
	for i := range 6 {
		l := numberedLine(i)
		l.Time = time.Now()
		if err := s.Append(l); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest file was last written two hours ago, so none of its lines can
	// be from the last hour whatever they say: it is not read.
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(s.path("chatty", 2), old, old); err != nil {
		t.Fatal(err)
	}
	if got, want := queryTexts(t, s, runtime.LogQuery{App: "chatty", Since: time.Hour}), numberedTexts(2, 6); !slices.Equal(got, want) {
		t.Errorf("lines since 1h = %q, want %q", got, want)
	}
	if got, want := queryTexts(t, s, runtime.LogQuery{App: "chatty"}), numberedTexts(0, 6); !slices.Equal(got, want) {
		t.Errorf("all lines = %q, want %q", got, want)
	}
}

// follow starts a follower of q and returns the lines it receives.
func follow(t *testing.T, s *logStore, q runtime.LogQuery) <-chan runtime.LogLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan runtime.LogLine, 1024)
	done := make(chan error, 1)
	go func() {
		done <- s.Query(ctx, q, func(l runtime.LogLine) error {
			got <- l
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follow: %v", err)
		}
	})
	return got
}

// expectTexts receives len(want) lines and compares them with want, in order.
func expectTexts(t *testing.T, ch <-chan runtime.LogLine, want []string) {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case l := <-ch:
			got = append(got, l.Text)
		case <-timeout:
			t.Fatalf("followed %d lines within 10s, want %d: %q", len(got), len(want), got)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("followed lines = %q, want %q", got, want)
	}
}

func TestLogFollowAcrossRotations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		history int // lines written before the follower attaches
	}{
		{"no file yet", 0},
		{"history in rotated files", 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRotatingStore(t, 10, 3)
			appendNumbered(t, s, 0, tt.history)
			got := follow(t, s, runtime.LogQuery{App: "chatty", Follow: true})
			expectTexts(t, got, numberedTexts(0, tt.history))

			// Bursts causing no rotation, one, two and four (with a file of
			// ten lines, the most that a follower may lag behind with three
			// kept files) while the follower is attached.
			n := tt.history
			for _, burst := range []int{3, 10, 20, 2, 40, 1, 7} {
				appendNumbered(t, s, n, n+burst)
				expectTexts(t, got, numberedTexts(n, n+burst))
				n += burst
			}
			// Nothing was sent twice: the next line is the next one written.
			appendNumbered(t, s, n, n+1)
			expectTexts(t, got, numberedTexts(n, n+1))
		})
	}
}

func TestLogRotationConcurrentReplicas(t *testing.T) {
	t.Parallel()
	const replicas, lines = 3, 200
	s, err := NewSupervisor(SupervisorConfig{
		DataDir: t.TempDir(), Logger: testLogger(), StopTimeout: time.Second,
		LogMaxBytes: 4 << 10, LogKeep: 100, // ~20 files, all kept
	})
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

	// A follower attached before the first line.
	var (
		mu       sync.Mutex
		followed []runtime.LogLine
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Logs(ctx, runtime.LogQuery{App: "chatty", Follow: true}, func(l runtime.LogLine) error {
			mu.Lock()
			followed = append(followed, l)
			mu.Unlock()
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follow: %v", err)
		}
	}()

	spec := shSpec(t, "chatty", 1, fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; i=$((i+1)); done; exec sleep 60`, lines))
	spec.Replicas = replicas
	if err := s.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every line to be followed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(followed) >= replicas*lines
	})

	// Each replica's lines arrive exactly once and in the order written, both
	// to the follower and to a query reading every rotated file.
	check := func(what string, got []runtime.LogLine) {
		t.Helper()
		next := make([]int, replicas)
		for _, l := range got {
			if l.Replica < 0 || l.Replica >= replicas {
				t.Fatalf("%s: line of replica %d", what, l.Replica)
			}
			next[l.Replica]++
			if want := fmt.Sprintf("line %d", next[l.Replica]); l.Text != want {
				t.Fatalf("%s: replica %d wrote %q, want %q", what, l.Replica, l.Text, want)
			}
		}
		if len(got) != replicas*lines {
			t.Errorf("%s: %d lines, want %d", what, len(got), replicas*lines)
		}
	}
	mu.Lock()
	check("follower", followed)
	mu.Unlock()
	check("query", collectLogs(t, s, runtime.LogQuery{App: "chatty"}))

	files, err := filepath.Glob(filepath.Join(s.logs.dir, "chatty.log*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Errorf("%d log files, want the log rotated at least 9 times", len(files))
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 4<<10 {
			t.Errorf("%s: %v, size past the 4 KiB limit", f, err)
		}
	}
}
