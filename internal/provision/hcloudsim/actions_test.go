package hcloudsim

import (
	"context"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func TestActionProgress(t *testing.T) {
	sim := startSim(t, Options{ActionDuration: 600 * time.Millisecond})
	c := newClient(sim, "t")
	ctx := context.Background()
	var actions []*hcloud.Action
	for _, name := range []string{"a", "b"} {
		res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: name, ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Action.Status != hcloud.ActionStatusRunning || res.Action.Command != "create_server" {
			t.Errorf("create action = %+v", res.Action)
		}
		actions = append(actions, res.Action)
	}
	progress := map[int64][]int{}
	err := c.Action.WaitForFunc(ctx, func(a *hcloud.Action) error {
		progress[a.ID] = append(progress[a.ID], a.Progress)
		if a.Status == hcloud.ActionStatusSuccess && (a.Progress != 100 || a.Finished.IsZero()) {
			t.Errorf("finished action %d: progress %d finished %v", a.ID, a.Progress, a.Finished)
		}
		return nil
	}, actions...)
	if err != nil {
		t.Fatal(err)
	}
	for id, p := range progress {
		var partial bool
		for i, v := range p {
			if i > 0 && v < p[i-1] {
				t.Errorf("action %d progress went back: %v", id, p)
			}
			partial = partial || (v > 0 && v < 100)
		}
		if !partial || p[len(p)-1] != 100 {
			t.Errorf("action %d progress = %v, want partial values then 100", id, p)
		}
	}
	// WaitFor polls both actions in one batched GET /actions per round.
	calls := sim.Calls()
	if calls["GET /actions"] == 0 || calls["GET /actions/{id}"] != 0 {
		t.Errorf("action polls = %v", calls)
	}
	a, _, err := c.Action.GetByID(ctx, actions[0].ID)
	if err != nil || a.Status != hcloud.ActionStatusSuccess {
		t.Errorf("get action = %+v, %v", a, err)
	}
	srv, _, err := c.Server.GetByName(ctx, "a")
	if err != nil || srv.Status != hcloud.ServerStatusRunning {
		t.Errorf("server after create action = %+v, %v", srv, err)
	}
}
