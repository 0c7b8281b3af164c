package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
)

// setRoutes swaps the router's table and saves it, so a restarted node serves the
// same routes before the control plane reconnects.
func (n *node) setRoutes(t router.Table) error {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	resolved := n.resolve(t)
	if err := n.router.SetTable(resolved); err != nil {
		return err
	}
	n.given = t
	n.publishTable(resolved)
	b, err := json.MarshalIndent(t, "", "  ")
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
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	resolved := n.resolve(t)
	if err := n.router.SetTable(resolved); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	n.given = t
	n.publishTable(resolved)
	return nil
}

// resolve returns the table the router serves for the table t the control
// plane gave. On Kubernetes a pod replaced (deleted, evicted, its node gone)
// comes back with another address, and the control plane's addresses would
// go stale until the next deploy: each address is replaced by the current
// addresses of the workload whose pod had it, or, for a backend given no
// address (its pods had none yet), of the release's workload by its ID
// (runtime.WorkloadID). Callers hold routesMu.
func (n *node) resolve(t router.Table) router.Table {
	k := n.sup.kube
	if k == nil {
		return t
	}
	out := router.Table{Routes: make([]router.Route, len(t.Routes))}
	for i, r := range t.Routes {
		r.Backends = append([]router.Backend(nil), r.Backends...)
		for j := range r.Backends {
			r.Backends[j].Addrs = k.resolveAddrs(r.Backends[j].Addrs, runtime.WorkloadID(r.App, r.Backends[j].Release))
		}
		if r.Mirror != nil {
			m := *r.Mirror
			m.Addrs = k.resolveAddrs(m.Addrs, runtime.WorkloadID(r.App, m.Release)+runtime.CandidateSuffix)
			r.Mirror = &m
		}
		out.Routes[i] = r
	}
	return out
}

// reresolve serves the given table again with the pods' current addresses.
func (n *node) reresolve() {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	resolved := n.resolve(n.given)
	if err := n.router.SetTable(resolved); err != nil {
		n.logger.Warn("update the routes to the pods' addresses", "err", err)
		return
	}
	n.publishTable(resolved)
}

// publishTable gives the router replicas the table the node's router serves:
// resolved, so that on Kubernetes they send to the pods' current addresses
// too. Callers hold routesMu, so tables are published in the order set.
func (n *node) publishTable(resolved router.Table) {
	if n.bus != nil {
		n.bus.setTable(resolved)
	}
}
