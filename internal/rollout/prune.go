package rollout

import (
	"context"
	"errors"
	"os"

	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// pruneReleases removes the files of an app's old releases, keeping those of the
// newest Options.KeepReleases releases, of the live one, and of any release that
// runs. Every release of Go app carries its source and binary, so without this a
// busy app fills the disk. The release records and build logs stay; a rollback
// to a pruned release says its files are gone. Callers hold the app's lock.
func (m *Manager) pruneReleases(ctx context.Context, releases []store.Release, sts []runtime.Status) {
	running := map[int]bool{}
	for _, st := range sts {
		running[st.Release] = true
	}
	// A config release runs from the artifact of the release it was made from,
	// so a directory is kept while any kept release points at it.
	keep := map[string]bool{}
	for i, r := range releases { // newest first
		if i < m.opts.KeepReleases || r.Status == store.StatusLive || running[r.Version] ||
			r.Status == store.StatusBuilding || r.Status == store.StatusVerifying {
			keep[r.Artifact] = true
		}
	}
	// Each release's own directory, failed builds' included; then the records
	// whose artifact is gone.
	for i, r := range releases {
		dir := m.releaseDir(r.App, r.Version)
		if i < m.opts.KeepReleases || keep[dir] {
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("prune release files", "app", r.App, "release", r.Version, "err", err)
			continue
		}
		m.log.Info("pruned release files", "app", r.App, "release", r.Version)
	}
	for i, r := range releases {
		if i < m.opts.KeepReleases || r.Artifact == "" || keep[r.Artifact] {
			continue
		}
		if _, err := os.Stat(r.Artifact); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		r.Artifact = ""
		if err := m.store.UpdateRelease(ctx, r); err != nil {
			m.log.Warn("record pruned release", "app", r.App, "release", r.Version, "err", err)
		}
	}
}
