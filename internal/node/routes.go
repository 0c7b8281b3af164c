package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prosperhq/prosper/internal/router"
)

// setRoutes swaps the router's table and saves it, so a restarted node serves the
// same routes before the control plane reconnects.
func (n *node) setRoutes(t router.Table) error {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	if err := n.router.SetTable(t); err != nil {
		return err
	}
	b, err := json.MarshalIndent(n.router.Table(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode routes: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(n.dataDir, routesName), b); err != nil {
		return fmt.Errorf("save routes: %w", err)
	}
	return nil
}

// loadRoutes gives the router the table saved by the previous node, if any.
func (n *node) loadRoutes() error {
	path := filepath.Join(n.dataDir, routesName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var t router.Table
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := n.router.SetTable(t); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}
