package node

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// oldFile sets a file's modification time age ago, as if last written then.
func oldFile(t *testing.T, path string, age time.Duration) {
	t.Helper()
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func TestLogSweepDeletesOldFiles(t *testing.T) {
	t.Parallel()
	s, err := newLogStore(t.TempDir(), 200, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	line := func(app, text string) runtime.LogLine {
		return runtime.LogLine{Time: time.Now(), App: app, Stream: "stdout", Text: text}
	}
	// shop: APP.log and two rotated files; idle: one file, its app gone.
	for i := range 6 {
		if err := s.Append(line("shop", "a line long enough to rotate the file soon, number "+string(rune('0'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(line("idle", "last words")); err != nil {
		t.Fatal(err)
	}
	if !exists(s.path("shop", 2)) {
		t.Fatal("the fixture did not rotate twice")
	}
	oldFile(t, s.path("shop", 2), 8*24*time.Hour)
	oldFile(t, s.path("shop", 1), 6*24*time.Hour)
	oldFile(t, s.path("idle", 0), 30*24*time.Hour)

	if err := s.sweep(7 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		s.path("shop", 2): false, s.path("shop", 1): true, s.path("shop", 0): true, s.path("idle", 0): false,
	} {
		if exists(path) != want {
			t.Errorf("%s exists = %v after the sweep, want %v", path, !want, want)
		}
	}
	// The app whose live file went writes again, and a search finds the new line only.
	if err := s.Append(line("idle", "back again")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(context.Background(), LogSearch{App: "idle"})
	if err != nil || len(got) != 1 || got[0].Text != "back again" {
		t.Errorf("idle after the sweep: %v %+v", err, got)
	}
}

// TestLogSweepFollower checks that a follower of a live file deleted for its
// age goes on with the next one.
func TestLogSweepFollower(t *testing.T) {
	t.Parallel()
	s, err := newLogStore(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(runtime.LogLine{Time: time.Now(), App: "shop", Text: "before"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	go s.Query(ctx, runtime.LogQuery{App: "shop", Follow: true}, func(l runtime.LogLine) error {
		got <- l.Text
		return nil
	})
	if l := <-got; l != "before" {
		t.Fatalf("first line %q", l)
	}
	oldFile(t, s.path("shop", 0), 8*24*time.Hour)
	if err := s.sweep(7 * 24 * time.Hour); err != nil || exists(s.path("shop", 0)) {
		t.Fatalf("sweep: %v; file still there: %v", err, exists(s.path("shop", 0)))
	}
	if err := s.Append(runtime.LogLine{Time: time.Now(), App: "shop", Text: "after"}); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l != "after" {
			t.Errorf("next line %q, want after", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never got the line written after the sweep")
	}
}

// TestSupervisorSweepsOldLogs checks the periodic sweep the supervisor starts.
func TestSupervisorSweepsOldLogs(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	s.logs.stopSweep()
	if err := s.logs.Append(runtime.LogLine{Time: time.Now(), App: "shop", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	oldFile(t, s.logs.path("shop", 0), 2*time.Hour)
	s.logs.sweepEvery(time.Hour, 10*time.Millisecond, func(err error) { t.Error(err) })
	waitFor(t, 10*time.Second, "the sweep to delete the old file", func() bool { return !exists(s.logs.path("shop", 0)) })
}
