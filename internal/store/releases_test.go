package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateRelease(t *testing.T) { eachBackend(t, testCreateRelease) }

func testCreateRelease(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	start := stepClock(s)

	env := map[string]string{"A": "1"}
	got, err := s.CreateRelease(ctx, Release{App: "shop", Commit: "abc", Branch: "main", Source: "git", Env: env})
	if err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	env["A"] = "changed by the caller"
	want := Release{App: "shop", Version: 1, Status: StatusBuilding, Commit: "abc", Branch: "main", Source: "git",
		Replicas: 1, Env: map[string]string{"A": "1"}, Reasons: []string{}, CreatedAt: start}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateRelease returned\n%+v\nwant\n%+v", got, want)
	}
	stored, err := s.GetRelease(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("GetRelease =\n%+v\nwant\n%+v", stored, want)
	}

	second, err := s.CreateRelease(ctx, Release{App: "shop", Source: "deploy", Replicas: 3, Status: StatusVerifying})
	if err != nil || second.Version != 2 || second.Replicas != 3 || second.Status != StatusVerifying || second.Env != nil {
		t.Errorf("second CreateRelease = %+v, %v; want v2, 3 replicas, verifying, no env", second, err)
	}

	for _, tc := range []struct {
		name string
		r    Release
		want error
	}{
		{"missing app", Release{App: "nope"}, ErrNotFound},
		{"unknown status", Release{App: "shop", Status: "running"}, ErrInvalid},
		{"created live", Release{App: "shop", Status: StatusLive}, ErrInvalid},
	} {
		if _, err := s.CreateRelease(ctx, tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateRelease err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Refused creations consume no version number.
	if r, err := s.CreateRelease(ctx, Release{App: "shop"}); err != nil || r.Version != 3 {
		t.Errorf("CreateRelease after refusals = v%d, %v; want v3", r.Version, err)
	}
	if _, err := s.GetRelease(ctx, "shop", 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRelease of a missing version err = %v, want ErrNotFound", err)
	}
}

func TestCreateReleaseConcurrentVersions(t *testing.T) {
	eachBackend(t, testCreateReleaseConcurrentVersions)
}

func testCreateReleaseConcurrentVersions(t *testing.T, be backend) {
	// 20 concurrent creations, split over two Stores on the same database as
	// two processes (or control-plane replicas) would be, must get versions
	// 1..20 exactly once each.
	ctx := context.Background()
	location := be.newLocation(t)
	stores := []*Store{openTestStore(t, location), openTestStore(t, location)}
	mustCreateApp(t, stores[0], "shop")
	mustCreateApp(t, stores[0], "blog")

	const n = 20
	versions := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := stores[i%2].CreateRelease(ctx, Release{App: "shop", Source: "git"})
			versions[i], errs[i] = r.Version, err
		})
		// Releases of another app interleave and must not disturb shop's numbering.
		wg.Go(func() {
			if _, err := stores[(i+1)%2].CreateRelease(ctx, Release{App: "blog"}); err != nil {
				t.Errorf("CreateRelease(blog): %v", err)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("CreateRelease %d: %v", i, err)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("versions returned = %v, want 1..%d with no duplicate or gap", versions, n)
		}
	}
	list, err := stores[0].ListReleases(ctx, "shop")
	if err != nil || len(list) != n || list[0].Version != n || list[n-1].Version != 1 {
		t.Errorf("ListReleases: %d releases from v%d to v%d, %v; want %d from v%d to v1",
			len(list), list[0].Version, list[len(list)-1].Version, err, n, n)
	}
}

func TestUpdateRelease(t *testing.T) { eachBackend(t, testUpdateRelease) }

func testUpdateRelease(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	r, err := s.CreateRelease(ctx, Release{App: "shop", Commit: "abc", Env: map[string]string{"A": "1"}})
	if err != nil {
		t.Fatal(err)
	}

	finished := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	r.Status = StatusFailed
	r.Artifact = "/data/releases/shop/1"
	r.Command = "bin/app"
	r.HealthPath = "/healthz"
	r.BuildLog = "/data/logs/shop-1.log"
	r.Reasons = []string{"build: exit status 1"}
	r.Phases = map[string]float64{"receive": 0.2, "build": 3.5}
	r.FinishedAt = &finished
	// The replica count is known only after the build has read prosper.yaml.
	r.Replicas = 3
	// Fields fixed at creation are ignored by UpdateRelease.
	changed := r
	changed.Commit = "other"
	changed.Env = map[string]string{"B": "2"}
	changed.Source = "rollback"
	if err := s.UpdateRelease(ctx, changed); err != nil {
		t.Fatalf("UpdateRelease: %v", err)
	}
	got, err := s.GetRelease(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("after UpdateRelease:\n%+v\nwant\n%+v", got, r)
	}

	for _, tc := range []struct {
		name string
		r    Release
		want error
	}{
		{"missing release", Release{App: "shop", Version: 9, Status: StatusFailed}, ErrNotFound},
		{"missing app", Release{App: "nope", Version: 1, Status: StatusFailed}, ErrNotFound},
		{"unknown status", Release{App: "shop", Version: 1, Status: "done"}, ErrInvalid},
		{"live without Promote", Release{App: "shop", Version: 1, Status: StatusLive}, ErrInvalid},
	} {
		if err := s.UpdateRelease(ctx, tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: UpdateRelease err = %v, want %v", tc.name, err, tc.want)
		}
	}

	// A live release can be updated (e.g. its switch phase) and stays live.
	v2, err := s.CreateRelease(ctx, Release{App: "shop", Status: StatusVerifying})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Promote(ctx, "shop", v2.Version, StatusSuperseded); err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveRelease(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	live.Phases = map[string]float64{"switch": 0.01}
	if err := s.UpdateRelease(ctx, live); err != nil {
		t.Errorf("UpdateRelease of the live release: %v", err)
	}
	if got, err := s.LiveRelease(ctx, "shop"); err != nil || got.Phases["switch"] != 0.01 {
		t.Errorf("live release after update = %+v, %v", got, err)
	}
}

func TestListReleasesAndLive(t *testing.T) { eachBackend(t, testListReleasesAndLive) }

func testListReleasesAndLive(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")

	list, err := s.ListReleases(ctx, "shop")
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListReleases of a new app = %#v, %v; want an empty non-nil list", list, err)
	}
	if _, err := s.ListReleases(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListReleases of a missing app err = %v, want ErrNotFound", err)
	}
	if _, err := s.LiveRelease(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LiveRelease with none live err = %v, want ErrNotFound", err)
	}
	for range 3 {
		if _, err := s.CreateRelease(ctx, Release{App: "shop", Status: StatusVerifying}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Promote(ctx, "shop", 2, StatusSuperseded); err != nil {
		t.Fatal(err)
	}
	list, err = s.ListReleases(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, fmt.Sprintf("v%d:%s", r.Version, r.Status))
	}
	if want := []string{"v3:verifying", "v2:live", "v1:verifying"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListReleases = %v, want %v", got, want)
	}
	if live, err := s.LiveRelease(ctx, "shop"); err != nil || live.Version != 2 {
		t.Errorf("LiveRelease = v%d, %v; want v2", live.Version, err)
	}
}

func TestReleasesInStatus(t *testing.T) { eachBackend(t, testReleasesInStatus) }

func testReleasesInStatus(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	for _, app := range []string{"b-app", "a-app"} {
		mustCreateApp(t, s, app)
		for _, st := range []string{StatusBuilding, StatusVerifying, StatusFailed, StatusBuilding} {
			if _, err := s.CreateRelease(ctx, Release{App: app, Status: st}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		statuses []string
		want     []string
	}{
		{[]string{StatusBuilding, StatusVerifying},
			[]string{"a-app v1", "a-app v2", "a-app v4", "b-app v1", "b-app v2", "b-app v4"}},
		{[]string{StatusFailed}, []string{"a-app v3", "b-app v3"}},
		{[]string{StatusLive}, nil},
		{nil, nil},
	}
	for _, tc := range tests {
		rs, err := s.ReleasesInStatus(ctx, tc.statuses...)
		if err != nil {
			t.Fatalf("ReleasesInStatus(%v): %v", tc.statuses, err)
		}
		if rs == nil {
			t.Errorf("ReleasesInStatus(%v) returned nil, want a non-nil list", tc.statuses)
		}
		var got []string
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%s v%d", r.App, r.Version))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ReleasesInStatus(%v) = %v, want %v", tc.statuses, got, tc.want)
		}
	}
}

func TestReleaseJSON(t *testing.T) { eachBackend(t, testReleaseJSON) }

func testReleaseJSON(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	created, err := s.CreateRelease(ctx, Release{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.GetRelease(ctx, "shop", created.Version)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    any
	}{
		{"zero value", Release{}},
		{"pointer with nil reasons", &Release{App: "x"}},
		{"created", created},
		{"stored", stored},
		{"in a list", []Release{{App: "x"}}},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(string(b), `"reasons":[]`) || strings.Contains(string(b), "null") {
			t.Errorf("%s: JSON %s, want \"reasons\":[] and no null", tc.name, b)
		}
	}

	// The keys the CLI's `releases -o json` promises are present and snake_case.
	b, _ := json.Marshal(stored)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"app", "version", "status", "commit", "created_at", "reasons", "replicas", "source"} {
		if _, ok := m[key]; !ok {
			t.Errorf("release JSON %s lacks %q", b, key)
		}
	}
	// Round trip.
	var back Release
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, stored) {
		t.Errorf("JSON round trip = %+v, %v; want %+v", back, err, stored)
	}
}
