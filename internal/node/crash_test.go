package node

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

func TestSupervisorRecordsCrashes(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, time.Second)
	ctx := context.Background()
	exit := shSpec(t, "crashy", 3, `for i in $(seq 1 30); do echo "line $i"; done; echo "ERROR: boom"; exit 2`)
	signal := shSpec(t, "crashy", 4, `echo "segfault next"; kill -SEGV $$`)
	calm := shSpec(t, "calm", 1, `echo fine; exec sleep 60`)
	for _, spec := range []runtime.Spec{exit, signal, calm} {
		if err := s.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	var crashes []Crash
	waitFor(t, 20*time.Second, "a crash of each release", func() bool {
		var err error
		if crashes, err = s.Crashes(ctx, "crashy", time.Hour); err != nil {
			t.Fatal(err)
		}
		rels := map[int]bool{}
		for _, c := range crashes {
			rels[c.Release] = true
		}
		return rels[3] && rels[4]
	})
	for _, c := range crashes {
		var texts []string
		for _, l := range c.Lines {
			texts = append(texts, l.Text)
		}
		switch c.Release {
		case 3:
			want := []string{"line 12", "line 13"} // the 20 lines end with boom
			if c.ExitCode != 2 || c.Signal != "" || c.Reason != "exit code 2" || len(c.Lines) != crashLines ||
				texts[len(texts)-1] != "ERROR: boom" || texts[0] != "line 12" || !slices.Contains(texts, want[1]) ||
				c.Lines[len(c.Lines)-1].Level != "error" || c.Replica != 0 || c.App != "crashy" || time.Since(c.Time) > time.Minute {
				t.Errorf("crash of v3 = %+v\nlines %q", c, texts)
			}
		case 4:
			if c.ExitCode != -1 || c.Signal != "SIGSEGV" || !strings.Contains(c.Reason, "SIGSEGV") || !slices.Equal(texts, []string{"segfault next"}) {
				t.Errorf("crash of v4 = %+v\nlines %q", c, texts)
			}
		default:
			t.Errorf("crash of an unknown release: %+v", c)
		}
	}
	// A process stopped on request is no crash, nor is one still running.
	if err := s.Stop(ctx, calm.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Crashes(ctx, "calm", 0); err != nil || len(got) != 0 {
		t.Errorf("crashes of calm = %+v, %v", got, err)
	}
	// since leaves older crashes out.
	if got, err := s.Crashes(ctx, "crashy", time.Nanosecond); err != nil || len(got) != 0 {
		t.Errorf("crashes of the last nanosecond = %d, %v", len(got), err)
	}
	if _, err := s.Crashes(ctx, "../x", 0); err == nil {
		t.Error("a path as app name is accepted")
	}
}

func TestCrashStoreTrims(t *testing.T) {
	t.Parallel()
	c, err := newCrashStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	for i := range 60 {
		if err := c.add(Crash{Time: time.Now(), App: "a", Release: i, Reason: big}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.list("a", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= 60 || got[len(got)-1].Release != 59 {
		t.Errorf("kept %d crashes, last %+v; want the newest, fewer than 60", len(got), got[len(got)-1].Release)
	}
}
