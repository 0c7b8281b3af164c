package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOpenIncident(t *testing.T) { eachBackend(t, testOpenIncident) }

func testOpenIncident(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	start := stepClock(s)

	got, err := s.OpenIncident(ctx, Incident{App: "shop", Title: " v3 rolled back ", Cause: CauseRollback,
		Release: 3, Details: "error rate 12%"})
	if err != nil {
		t.Fatalf("OpenIncident: %v", err)
	}
	want := Incident{ID: 1, App: "shop", Title: "v3 rolled back", Cause: CauseRollback, Release: 3,
		Details: "error rate 12%", OpenedAt: start}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OpenIncident returned %+v, want %+v", got, want)
	}
	if stored, err := s.GetIncident(ctx, got.ID); err != nil || !reflect.DeepEqual(stored, want) {
		t.Errorf("GetIncident = %+v, %v; want %+v", stored, err, want)
	}
	b, _ := json.Marshal(got)
	if w := `{"id":1,"app":"shop","title":"v3 rolled back","cause":"rollback","release":3,"details":"error rate 12%","opened_at":"2026-03-01T12:00:00.123456789Z"}`; string(b) != w {
		t.Errorf("incident JSON = %s, want %s", b, w)
	}

	// An imported incident comes with its times, in any zone, and may be resolved.
	opened := time.Date(2026, 1, 5, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	resolved := opened.Add(40 * time.Minute)
	imp, err := s.OpenIncident(ctx, Incident{App: "shop", Title: "outage", Cause: CauseImport,
		OpenedAt: opened, ResolvedAt: &resolved, ResolvedBy: 2})
	if err != nil {
		t.Fatalf("OpenIncident of a resolved import: %v", err)
	}
	stored, err := s.GetIncident(ctx, imp.ID)
	if err != nil || !reflect.DeepEqual(stored, imp) {
		t.Errorf("GetIncident of the import = %+v, %v; want %+v", stored, err, imp)
	}
	if !stored.OpenedAt.Equal(opened) || stored.OpenedAt.Location() != time.UTC || !stored.ResolvedAt.Equal(resolved) {
		t.Errorf("import times = %v .. %v, want %v .. %v in UTC", stored.OpenedAt, stored.ResolvedAt, opened, resolved)
	}

	early := opened.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		in   Incident
		want error
	}{
		{"missing app", Incident{App: "nope", Title: "x", Cause: CauseManual}, ErrNotFound},
		{"empty title", Incident{App: "shop", Title: "  ", Cause: CauseManual}, ErrInvalid},
		{"unknown cause", Incident{App: "shop", Title: "x", Cause: "outage"}, ErrInvalid},
		{"no cause", Incident{App: "shop", Title: "x"}, ErrInvalid},
		{"negative release", Incident{App: "shop", Title: "x", Cause: CauseManual, Release: -1}, ErrInvalid},
		{"resolved by without a time", Incident{App: "shop", Title: "x", Cause: CauseImport, ResolvedBy: 4}, ErrInvalid},
		{"resolved before opened", Incident{App: "shop", Title: "x", Cause: CauseImport, OpenedAt: opened, ResolvedAt: &early}, ErrInvalid},
	} {
		if _, err := s.OpenIncident(ctx, tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: OpenIncident err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.GetIncident(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetIncident of a missing incident err = %v, want ErrNotFound", err)
	}
}

func TestResolveIncident(t *testing.T) { eachBackend(t, testResolveIncident) }

func testResolveIncident(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	start := stepClock(s)

	in, err := s.OpenIncident(ctx, Incident{App: "shop", Title: "crash loop", Cause: CauseCrashLoop, Release: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ResolveIncident(ctx, in.ID, 5, time.Time{})
	if err != nil {
		t.Fatalf("ResolveIncident: %v", err)
	}
	at := start.Add(time.Second) // the clock's next reading
	want := in
	want.ResolvedBy, want.ResolvedAt = 5, &at
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveIncident returned %+v, want %+v", got, want)
	}
	if stored, err := s.GetIncident(ctx, in.ID); err != nil || !reflect.DeepEqual(stored, want) {
		t.Errorf("GetIncident after resolving = %+v, %v; want %+v", stored, err, want)
	}

	_, err = s.ResolveIncident(ctx, in.ID, 6, time.Time{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "already resolved at "+at.Format(time.RFC3339)) {
		t.Errorf("resolving twice err = %v, want ErrInvalid saying when it was resolved", err)
	}
	if stored, _ := s.GetIncident(ctx, in.ID); stored.ResolvedBy != 5 {
		t.Errorf("resolving twice changed resolved_by to %d", stored.ResolvedBy)
	}
	if _, err := s.ResolveIncident(ctx, 99, 1, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResolveIncident of a missing incident err = %v, want ErrNotFound", err)
	}

	second, err := s.OpenIncident(ctx, Incident{App: "shop", Title: "slow", Cause: CauseGateRegression})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveIncident(ctx, second.ID, 0, second.OpenedAt.Add(-time.Second)); !errors.Is(err, ErrInvalid) {
		t.Errorf("resolving before the opening err = %v, want ErrInvalid", err)
	}
	if _, err := s.ResolveIncident(ctx, second.ID, -1, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("resolving by a negative release err = %v, want ErrInvalid", err)
	}

	// Incidents outlive their app and can still be resolved.
	if err := s.DeleteApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	explicit := time.Date(2026, 3, 2, 8, 0, 0, 0, time.FixedZone("EST", -5*3600))
	got, err = s.ResolveIncident(ctx, second.ID, 0, explicit)
	if err != nil || !got.ResolvedAt.Equal(explicit) || got.ResolvedAt.Location() != time.UTC || got.ResolvedBy != 0 {
		t.Errorf("ResolveIncident after the app's deletion = %+v, %v; want resolved at %v in UTC by 0", got, err, explicit)
	}
	if list, err := s.Incidents(ctx, IncidentQuery{App: "shop"}); err != nil || len(list) != 2 {
		t.Errorf("incidents of the deleted app = %+v, %v; want both kept", list, err)
	}
}

func TestResolveIncidentConcurrently(t *testing.T) { eachBackend(t, testResolveIncidentConcurrently) }

func testResolveIncidentConcurrently(t *testing.T, be backend) {
	// Two processes resolving the same incident: exactly one wins.
	ctx := context.Background()
	location := be.newLocation(t)
	stores := []*Store{openTestStore(t, location), openTestStore(t, location)}
	mustCreateApp(t, stores[0], "shop")
	in, err := stores[0].OpenIncident(ctx, Incident{App: "shop", Title: "down", Cause: CauseManual})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = stores[i%2].ResolveIncident(ctx, in.ID, i+1, time.Time{})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrInvalid):
			t.Errorf("resolution %d: %v, want success or ErrInvalid", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d resolutions succeeded, want exactly 1 (errors %v)", won, errs)
	}
}

func TestIncidentsQuery(t *testing.T) { eachBackend(t, testIncidentsQuery) }

func testIncidentsQuery(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	mustCreateApp(t, s, "blog")
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	hour := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }
	opened := []struct {
		app      string
		at       int
		resolved bool
	}{
		{"shop", 1, true},  // 1
		{"blog", 2, false}, // 2
		{"shop", 3, false}, // 3
		{"shop", 5, true},  // 4
		{"blog", 4, true},  // 5: opened before 4, recorded after
		{"shop", 5, false}, // 6: same time as 4, newer ID
	}
	for _, o := range opened {
		in, err := s.OpenIncident(ctx, Incident{App: o.app, Title: "x", Cause: CauseManual, OpenedAt: hour(o.at)})
		if err != nil {
			t.Fatal(err)
		}
		if o.resolved {
			if _, err := s.ResolveIncident(ctx, in.ID, 0, hour(o.at+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name string
		q    IncidentQuery
		want []int64 // IDs, newest first
	}{
		{"all", IncidentQuery{}, []int64{6, 4, 5, 3, 2, 1}},
		{"by app", IncidentQuery{App: "shop"}, []int64{6, 4, 3, 1}},
		{"open only", IncidentQuery{Open: true}, []int64{6, 3, 2}},
		{"since is inclusive", IncidentQuery{Since: hour(4)}, []int64{6, 4, 5}},
		{"limit takes the newest", IncidentQuery{Limit: 2}, []int64{6, 4}},
		{"combined", IncidentQuery{App: "shop", Open: true, Since: hour(2), Limit: 5}, []int64{6, 3}},
		{"no match", IncidentQuery{App: "nope"}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.Incidents(ctx, tc.q)
			if err != nil {
				t.Fatalf("Incidents: %v", err)
			}
			got := []int64{}
			for _, in := range list {
				got = append(got, in.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Incidents(%+v) IDs = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}
