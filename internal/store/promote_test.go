package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestPromote(t *testing.T) { eachBackend(t, testPromote) }

func testPromote(t *testing.T, be backend) {
	// Each case starts from releases v1..v4 with the given statuses (live ones
	// set by Promote) and promotes one of them.
	tests := []struct {
		name     string
		initial  []string // statuses of v1..v4 before; "live" means promoted during setup
		version  int
		previous string
		wantPrev int // version returned as the previous live one, 0 for none
		want     []string
		wantErr  error
	}{
		{
			name:    "first promotion",
			initial: []string{StatusVerifying, StatusBuilding, StatusBuilding, StatusBuilding},
			version: 1, previous: StatusSuperseded,
			want: []string{StatusLive, StatusBuilding, StatusBuilding, StatusBuilding},
		},
		{
			name:    "new release supersedes the live one",
			initial: []string{StatusLive, StatusVerifying, StatusBuilding, StatusBuilding},
			version: 2, previous: StatusSuperseded, wantPrev: 1,
			want: []string{StatusSuperseded, StatusLive, StatusBuilding, StatusBuilding},
		},
		{
			name:    "rollback to a superseded release",
			initial: []string{StatusSuperseded, StatusSuperseded, StatusLive, StatusFailed},
			version: 1, previous: StatusRolledBack, wantPrev: 3,
			want: []string{StatusLive, StatusSuperseded, StatusRolledBack, StatusFailed},
		},
		{
			name:    "already live changes nothing",
			initial: []string{StatusSuperseded, StatusLive, StatusVerifying, StatusBuilding},
			version: 2, previous: StatusSuperseded,
			want: []string{StatusSuperseded, StatusLive, StatusVerifying, StatusBuilding},
		},
		{
			name:    "building cannot go live",
			initial: []string{StatusLive, StatusBuilding, StatusBuilding, StatusBuilding},
			version: 2, previous: StatusSuperseded, wantErr: ErrInvalid,
			want: []string{StatusLive, StatusBuilding, StatusBuilding, StatusBuilding},
		},
		{
			name:    "failed cannot go live",
			initial: []string{StatusLive, StatusFailed, StatusBuilding, StatusBuilding},
			version: 2, previous: StatusSuperseded, wantErr: ErrInvalid,
			want: []string{StatusLive, StatusFailed, StatusBuilding, StatusBuilding},
		},
		{
			name:    "previous status must be superseded or rolled_back",
			initial: []string{StatusLive, StatusVerifying, StatusBuilding, StatusBuilding},
			version: 2, previous: StatusRejected, wantErr: ErrInvalid,
			want: []string{StatusLive, StatusVerifying, StatusBuilding, StatusBuilding},
		},
		{
			name:    "missing release",
			initial: []string{StatusLive, StatusVerifying, StatusBuilding, StatusBuilding},
			version: 9, previous: StatusSuperseded, wantErr: ErrNotFound,
			want: []string{StatusLive, StatusVerifying, StatusBuilding, StatusBuilding},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t, be)
			ctx := context.Background()
			mustCreateApp(t, s, "shop")
			for _, st := range tc.initial {
				create := st
				if st == StatusLive {
					create = StatusVerifying
				}
				r, err := s.CreateRelease(ctx, Release{App: "shop", Status: create})
				if err != nil {
					t.Fatal(err)
				}
				if st == StatusLive {
					if _, _, err := s.Promote(ctx, "shop", r.Version, StatusSuperseded); err != nil {
						t.Fatal(err)
					}
				}
			}
			liveBefore, _ := s.LiveRelease(ctx, "shop")

			prev, ok, err := s.Promote(ctx, "shop", tc.version, tc.previous)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Promote err = %v, want %v", err, tc.wantErr)
			}
			if ok != (tc.wantPrev != 0) || prev.Version != tc.wantPrev {
				t.Errorf("Promote returned previous v%d ok=%v, want v%d", prev.Version, ok, tc.wantPrev)
			}
			if ok && prev.Status != tc.previous {
				t.Errorf("returned previous release has status %s, want %s", prev.Status, tc.previous)
			}
			var got []string
			for v := 1; v <= len(tc.initial); v++ {
				r, err := s.GetRelease(ctx, "shop", v)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.Status)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("statuses after Promote = %v, want %v", got, tc.want)
			}
			live, err := s.LiveRelease(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			if live.LiveAt == nil {
				t.Errorf("live release v%d has no LiveAt", live.Version)
			}
			if tc.wantErr != nil && !reflect.DeepEqual(live, liveBefore) {
				t.Errorf("failed Promote changed the live release from %+v to %+v", liveBefore, live)
			}
		})
	}
}

func TestPromoteKeepsFirstLiveAt(t *testing.T) { eachBackend(t, testPromoteKeepsFirstLiveAt) }

func testPromoteKeepsFirstLiveAt(t *testing.T, be backend) {
	s := newTestStore(t, be)
	start := stepClock(s)
	ctx := context.Background()
	mustCreateApp(t, s, "shop") // t0
	for range 2 {
		if _, err := s.CreateRelease(ctx, Release{App: "shop", Status: StatusVerifying}); err != nil { // t1, t2
			t.Fatal(err)
		}
	}
	steps := []struct {
		version  int
		previous string
	}{{1, StatusSuperseded}, {2, StatusSuperseded}, {1, StatusRolledBack}} // t3, t4, t5
	for _, st := range steps {
		if _, _, err := s.Promote(ctx, "shop", st.version, st.previous); err != nil {
			t.Fatalf("Promote v%d: %v", st.version, err)
		}
	}
	for _, tc := range []struct {
		version int
		want    int // seconds after start
	}{{1, 3}, {2, 4}} {
		r, err := s.GetRelease(ctx, "shop", tc.version)
		if err != nil {
			t.Fatal(err)
		}
		want := start.Add(time.Duration(tc.want) * time.Second)
		if r.LiveAt == nil || !r.LiveAt.Equal(want) {
			t.Errorf("v%d LiveAt = %v, want %v (the first time it went live)", tc.version, r.LiveAt, want)
		}
	}
}

func TestPromoteConcurrentlyOnSeveralStores(t *testing.T) {
	eachBackend(t, testPromoteConcurrentlyOnSeveralStores)
}

func testPromoteConcurrentlyOnSeveralStores(t *testing.T, be backend) {
	// Control-plane replicas promoting different releases at once. Promote
	// reads the live release, then demotes it: without the write lock both
	// would read the same live release and leave two live ones.
	ctx := context.Background()
	location := be.newLocation(t)
	var stores []*Store
	for range 4 {
		stores = append(stores, openTestStore(t, location))
	}
	mustCreateApp(t, stores[0], "shop")
	const n = 40
	for range n {
		if _, err := stores[0].CreateRelease(ctx, Release{App: "shop", Status: StatusVerifying}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = stores[i%len(stores)].Promote(ctx, "shop", i+1, StatusSuperseded)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Promote v%d: %v", i+1, err)
		}
	}
	rs, err := stores[1].ReleasesInStatus(ctx, StatusLive)
	if err != nil || len(rs) != 1 {
		t.Fatalf("live releases after concurrent promotions = %d, %v; want exactly 1", len(rs), err)
	}
	superseded, err := stores[1].ReleasesInStatus(ctx, StatusSuperseded)
	if err != nil || len(superseded) != n-1 {
		t.Errorf("superseded releases = %d, %v; want %d", len(superseded), err, n-1)
	}
}
