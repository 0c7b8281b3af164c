package rollout

import (
	"context"
	"os"
	"path/filepath"
)

// DeleteApp stops every process of the app, forgets its state and files (the
// event log keeps its history), and takes it out of the router.
func (m *Manager) DeleteApp(ctx context.Context, app string) error {
	if _, err := m.store.GetApp(ctx, app); err != nil {
		return err
	}
	unlock, err := m.lock(ctx, app)
	if err != nil {
		return err
	}
	defer unlock()
	all, err := m.runtime.List(ctx)
	if err != nil {
		return err
	}
	for _, st := range all {
		if st.App == app {
			if err := m.runtime.Stop(ctx, st.ID); err != nil {
				return err
			}
		}
	}
	if err := m.store.DeleteApp(ctx, app); err != nil {
		return err
	}
	m.event(ctx, "app.deleted", app, 0, nil)
	_ = os.RemoveAll(filepath.Join(m.opts.DataDir, "releases", app))
	_ = os.RemoveAll(m.appDataDir(app))
	return m.SyncRoutes(ctx)
}
