package node

import (
	"context"
	"testing"
	"time"
)

func TestProcStatsSumsTheProcessGroup(t *testing.T) {
	ctx := context.Background()
	s := newTestSupervisor(t, 5*time.Second)
	// Two processes in the group: a child that burns some CPU then sleeps
	// (exec keeps its CPU time), and the leader that sleeps.
	burn := `sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 300' & exec sleep 300`
	if err := s.Start(ctx, shSpec(t, "shop", 3, burn)); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, shSpec(t, "crash", 1, "exit 3")); err != nil {
		t.Fatal(err)
	}
	var got map[string]ProcStats
	waitFor(t, 30*time.Second, "the burner's CPU time and a restart of the crashing app", func() bool {
		got = map[string]ProcStats{}
		for _, st := range s.ProcStats() {
			got[st.Workload] = st
		}
		return got["shop-v3"].CPUSeconds >= 0.05 && got["crash-v1"].Restarts >= 1
	})
	shop := got["shop-v3"]
	if shop.App != "shop" || shop.Release != 3 || shop.Processes != 2 {
		t.Errorf("shop = %+v, want app shop, release 3, 2 processes", shop)
	}
	if shop.RSSBytes < 4096 || shop.RSSBytes > 1<<30 {
		t.Errorf("shop RSS = %d bytes, want a few pages", shop.RSSBytes)
	}
	if shop.Restarts != 0 {
		t.Errorf("shop restarts = %d", shop.Restarts)
	}
}

// TestProcStatsThroughTheNode asks a node over its unix socket.
func TestProcStatsThroughTheNode(t *testing.T) {
	n := runNode(t, t.TempDir())
	ctx := context.Background()
	if err := n.client.Start(ctx, shSpec(t, "shop", 1, "exec sleep 300")); err != nil {
		t.Fatal(err)
	}
	var st []ProcStats
	waitFor(t, 20*time.Second, "the workload's process in /v1/procstats", func() bool {
		var err error
		st, err = n.client.ProcStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(st) == 1 && st[0].Processes == 1
	})
	if st[0].App != "shop" || st[0].Release != 1 || st[0].RSSBytes <= 0 {
		t.Errorf("procstats = %+v", st)
	}
}
