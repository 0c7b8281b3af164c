package rollout

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// TestPruneKeepsNewestReleases checks that a sweep removes the files of releases
// past KeepReleases, keeps those a live config release still runs from and the
// build logs, and that a rollback to a pruned release says why it cannot.
func TestPruneKeepsNewestReleases(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour, KeepReleases: 2})
	h.createApp("shop")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", nil))
	// v3 is a failed build: its own directory is pruned too.
	if _, _, err := h.deploy("shop", pyApp(t, "broken", map[string]string{"prosper.yaml": "build: exit 1\nrun: exec python3 app.py\n"})); err == nil {
		t.Fatal("a failing build went live")
	}
	h.mustDeploy("shop", pyApp(t, "four", nil))
	// v5 runs from v4's files with new config.
	if _, err := h.m.Reconfigure(h.ctx, "shop", map[string]string{"GREETING": "hi"}, nil, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	exists := func(v int) bool {
		_, err := os.Stat(h.m.releaseDir("shop", v))
		return err == nil
	}
	// v1 and v2 still run until drained; their files go with the sweep after.
	h.sweepUntil("v1 and v2 pruned", 15*time.Second, func() bool { return !exists(1) && !exists(2) })
	for v, want := range map[int]bool{1: false, 2: false, 3: false, 4: true} {
		if got := exists(v); got != want {
			t.Errorf("v%d files exist = %v; want %v", v, got, want)
		}
	}
	one := h.release("shop", 1)
	if one.Artifact != "" {
		t.Errorf("v1 artifact = %q after pruning; want empty", one.Artifact)
	}
	if _, err := os.Stat(one.BuildLog); err != nil {
		t.Errorf("v1 build log was removed: %v", err)
	}
	if five := h.release("shop", 5); five.Status != store.StatusLive || five.Artifact != h.m.releaseDir("shop", 4) {
		t.Errorf("v5 = %s from %q; want live from v4's files", five.Status, five.Artifact)
	}
	h.mustServe("shop", 5, "four")

	_, _, err := h.m.Rollback(h.ctx, "shop", 1, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "files of v1 were removed") {
		t.Errorf("rollback to a pruned release: %v", err)
	}
	// The newest replaced release is kept and still rolls back instantly.
	if _, instant, err := h.m.Rollback(h.ctx, "shop", 0, &bytes.Buffer{}); err != nil || !instant {
		t.Errorf("rollback to v4: instant=%v err=%v", instant, err)
	}
	if errors.Is(err, ErrNothingToRollBack) {
		t.Error(err)
	}
}
