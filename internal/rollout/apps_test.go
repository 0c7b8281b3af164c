package rollout

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

func TestDeleteApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Warm: time.Hour})
	h.createApp("shop")
	h.createApp("other")
	h.mustDeploy("shop", pyApp(t, "one", nil))
	h.mustDeploy("shop", pyApp(t, "two", map[string]string{"prosper.yaml": "domains: [shop.example.com]\n"}))
	h.mustDeploy("other", pyApp(t, "other", nil))
	if got := h.running("shop"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("shop runs %v; want [1 2]", got)
	}

	if err := h.m.DeleteApp(h.ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if got := h.running("shop"); len(got) != 0 {
		t.Errorf("shop still runs %v", got)
	}
	if _, err := h.store.GetApp(h.ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetApp after delete: %v; want ErrNotFound", err)
	}
	for _, host := range []string{"shop.localhost", "shop.example.com"} {
		if a, err := h.getHost(host, "/"); err != nil || a.Status != http.StatusNotFound {
			t.Errorf("GET %s = %+v, %v; want 404", host, a, err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.opts.DataDir, "releases", "shop")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("release files: %v; want them removed", err)
	}
	if got := h.events("shop", 0); got[len(got)-1] != "app.deleted" || !slices.Contains(got, "release.promoted") {
		t.Errorf("events = %v; want the history kept and app.deleted last", got)
	}
	h.mustServe("other", 1, "other")

	if err := h.m.DeleteApp(h.ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v; want ErrNotFound", err)
	}
	if _, _, err := h.deploy("shop", pyApp(t, "x", nil)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deploy of the deleted app: %v; want ErrNotFound", err)
	}

	// The name can be used again, from v1.
	h.createApp("shop")
	if rel := h.mustDeploy("shop", pyApp(t, "again", nil)); rel.Version != 1 {
		t.Errorf("first release of the new app is v%d; want v1", rel.Version)
	}
	h.mustServe("shop", 1, "again")
}
