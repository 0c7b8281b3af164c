package node

import (
	"context"
	"errors"
	"os"
	"slices"
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
