package rollout

import (
	"testing"
	"time"
)

func TestOverlapsSettle(t *testing.T) {
	t0 := time.Now()
	at := func(from, to int) interval {
		return interval{from: t0.Add(time.Duration(from) * time.Millisecond), to: t0.Add(time.Duration(to) * time.Millisecond)}
	}
	var o overlaps
	o.write(at(100, 200))
	o.hold(heldRead{endpoint: "before", served: at(0, 90), arrived: t0})
	o.hold(heldRead{endpoint: "beside", served: at(150, 160), arrived: t0})
	o.hold(heldRead{endpoint: "after", served: at(210, 220), arrived: t0})
	o.hold(heldRead{endpoint: "recent", served: at(300, 310), arrived: t0.Add(time.Second)})

	got := o.settle(t0.Add(holdReads), false)
	if len(got) != 2 || got[0].endpoint != "before" || got[1].endpoint != "after" {
		t.Fatalf("settled %+v; want the reads served before and after the write", got)
	}
	if o.ambiguousReads() != 1 {
		t.Fatalf("ambiguous = %d, want the read served beside the write", o.ambiguousReads())
	}
	// The recent read waits, unless everything is settled for the verdict.
	if len(o.held) != 1 {
		t.Fatalf("held %d, want the recent read", len(o.held))
	}
	if got := o.settle(t0.Add(holdReads), true); len(got) != 1 || got[0].endpoint != "recent" {
		t.Fatalf("final settle = %+v", got)
	}
}
