package hetzner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
)

func TestSnapshotThenEnsureBootsFromIt(t *testing.T) {
	var mu sync.Mutex
	var keysSeen [][]string
	sim := startSim(t, hcloudsim.Options{OnServerCreate: func(_, _ string, keys []string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		keysSeen = append(keysSeen, keys)
		return "", nil
	}})
	pr := newProvider(t, sim)
	ctx := context.Background()
	c := testCluster("acme", 1, 0)
	c.Spec.Provider.Hetzner.Snapshot = true
	// A person's own key from spec.sshKeys goes to every server too.
	pubFile := filepath.Join(t.TempDir(), "alice.pub")
	alice := newKey(t)
	if err := os.WriteFile(pubFile, []byte(alice+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Spec.SSHKeys = []string{pubFile}

	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	mu.Lock()
	if len(keysSeen) != 1 || len(keysSeen[0]) != 2 || keysSeen[0][1] != alice {
		t.Errorf("server keys = %v, want the cluster key and alice's", keysSeen)
	}
	mu.Unlock()
	for i := range 2 {
		out, err := run(t, func(p *provision.Progress) error { return pr.Snapshot(ctx, c, "acme-cp-1", p) })
		if err != nil {
			t.Fatalf("snapshot %d: %v\n%s", i, err, out)
		}
		if i == 1 && !strings.Contains(out, "exists: kept") {
			t.Errorf("second snapshot did not keep the first:\n%s", out)
		}
	}
	if n := sim.Calls()["POST /servers/{id}/actions/create_image"]; n != 1 {
		t.Errorf("create_image called %d times, want 1", n)
	}
	snaps, err := pr.snapshots(ctx, nil, c, c.Spec.K3s.Version)
	if err != nil || len(snaps) != 1 || snaps[0].Labels[LabelK3sVersion] != "v1.31.4-k3s1" {
		t.Fatalf("snapshots = %v, %v", snaps, err)
	}

	// Scaling up: the new worker boots from the snapshot.
	c.Spec.Pools = testCluster("acme", 1, 1).Spec.Pools
	plan, err := pr.Plan(ctx, c, c.Plan())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "create server acme-workers-1 (cx22, fsn1, from snapshot") {
		t.Errorf("plan does not boot from the snapshot:\n%s", strings.Join(plan, "\n"))
	}
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	srv, _, err := client(sim).Server.GetByName(ctx, "acme-workers-1")
	if err != nil || srv == nil || srv.Image == nil || srv.Image.ID != snaps[0].ID {
		t.Fatalf("acme-workers-1 = %+v, %v; want it booted from snapshot %d", srv, err, snaps[0].ID)
	}

	// Delete removes the snapshot too, and leaves alice's key alone only if
	// it was not the cluster's: here prosper uploaded it, so it goes.
	if out, err := run(t, func(p *provision.Progress) error { return pr.Delete(ctx, c, p) }); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if left := inventoryNames(t, sim); len(left) != 0 {
		t.Errorf("after delete: %v", left)
	}
}
