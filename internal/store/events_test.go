package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) { eachBackend(t, testAppendEvent) }

func testAppendEvent(t *testing.T, be backend) {
	s := newTestStore(t, be)
	start := stepClock(s)
	ctx := context.Background()

	data := json.RawMessage(`{"commit":"abc"}`)
	e, err := s.AppendEvent(ctx, Event{Type: "deploy.started", App: "shop", Release: 3, Data: data})
	if err != nil {
		t.Fatalf("AppendEvent: %v", err)
	}
	data[2] = 'X' // the caller reusing its buffer must not change the event
	want := Event{ID: 1, Time: start, Type: "deploy.started", App: "shop", Release: 3, Data: json.RawMessage(`{"commit":"abc"}`)}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("AppendEvent returned %+v, want %+v", e, want)
	}
	// An explicit time is kept (in UTC); no data is stored as none.
	explicit := time.Date(2025, 12, 31, 23, 0, 0, 5, time.FixedZone("CET", 3600))
	e2, err := s.AppendEvent(ctx, Event{Type: "incident.opened", Time: explicit})
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || !reflect.DeepEqual(events[0], want) {
		t.Fatalf("Events = %+v, want first %+v", events, want)
	}
	if got := events[1]; got.ID != e2.ID || !got.Time.Equal(explicit) || got.Time.Location() != time.UTC || got.Data != nil {
		t.Errorf("second event = %+v, want ID %d, time %v in UTC, no data", got, e2.ID, explicit)
	}
	b, _ := json.Marshal(events[1])
	if want := fmt.Sprintf(`{"id":%d,"time":"2025-12-31T22:00:00.000000005Z","type":"incident.opened"}`, e2.ID); string(b) != want {
		t.Errorf("event JSON = %s, want %s", b, want)
	}

	for _, tc := range []struct {
		name string
		e    Event
	}{
		{"no type", Event{App: "shop"}},
		{"invalid data", Event{Type: "x", Data: json.RawMessage(`{"a":`)}},
	} {
		if _, err := s.AppendEvent(ctx, tc.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: AppendEvent err = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestEventsAreAppendOnly(t *testing.T) { eachBackend(t, testEventsAreAppendOnly) }

func testEventsAreAppendOnly(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	if _, err := s.AppendEvent(ctx, Event{Type: "deploy.started"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`UPDATE events SET type = 'x'`, `DELETE FROM events`} {
		if _, err := s.w.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s succeeded; the event log must be append-only", stmt)
		}
	}
	if events, err := s.Events(ctx, EventQuery{}); err != nil || len(events) != 1 || events[0].Type != "deploy.started" {
		t.Errorf("events after refused changes = %+v, %v", events, err)
	}
}

func TestEventsQuery(t *testing.T) { eachBackend(t, testEventsQuery) }

func testEventsQuery(t *testing.T, be backend) {
	s := newTestStore(t, be)
	start := stepClock(s) // event i is at start + i seconds
	ctx := context.Background()
	appended := []Event{
		{Type: "deploy.started", App: "shop", Release: 1},
		{Type: "build.failed", App: "shop", Release: 1},
		{Type: "deploy.started", App: "blog", Release: 1},
		{Type: "release.promoted", App: "blog", Release: 1},
		{Type: "deploy.started", App: "shop", Release: 2},
		{Type: "release.promoted", App: "shop", Release: 2},
		{Type: "incident.opened"},
	}
	for _, e := range appended {
		if _, err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	sec := func(n int) time.Time { return start.Add(time.Duration(n) * time.Second) }
	tests := []struct {
		name string
		q    EventQuery
		want []int64 // IDs, ascending
	}{
		{"all", EventQuery{}, []int64{1, 2, 3, 4, 5, 6, 7}},
		{"by app", EventQuery{App: "shop"}, []int64{1, 2, 5, 6}},
		{"by one type", EventQuery{Types: []string{"deploy.started"}}, []int64{1, 3, 5}},
		{"by types and app", EventQuery{App: "shop", Types: []string{"release.promoted", "build.failed"}}, []int64{2, 6}},
		{"since is inclusive", EventQuery{Since: sec(4)}, []int64{5, 6, 7}},
		{"until is exclusive", EventQuery{Until: sec(2)}, []int64{1, 2}},
		{"window", EventQuery{Since: sec(1), Until: sec(4)}, []int64{2, 3, 4}},
		{"after id", EventQuery{AfterID: 5}, []int64{6, 7}},
		{"limit takes the oldest", EventQuery{Limit: 2}, []int64{1, 2}},
		{"cursor page", EventQuery{AfterID: 2, Limit: 2}, []int64{3, 4}},
		{"everything combined", EventQuery{App: "shop", Types: []string{"deploy.started"}, Since: sec(0), AfterID: 1, Limit: 5}, []int64{5}},
		{"no match", EventQuery{App: "nope"}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, err := s.Events(ctx, tc.q)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			got := []int64{}
			for _, e := range events {
				got = append(got, e.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Events(%+v) IDs = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestEventsOrderUnderConcurrentAppends(t *testing.T) {
	eachBackend(t, testEventsOrderUnderConcurrentAppends)
}

func testEventsOrderUnderConcurrentAppends(t *testing.T, be backend) {
	// IDs are assigned in commit order, so a reader tailing with AfterID never
	// sees an ID appear below one it has already passed.
	s := newTestStore(t, be)
	ctx := context.Background()
	const writers, each = 5, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.AppendEvent(ctx, Event{Type: "tick", App: fmt.Sprint(w), Release: i}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	var seen []Event
	var after int64
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < writers*each && time.Now().Before(deadline) {
		page, err := s.Events(ctx, EventQuery{AfterID: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.ID <= after {
				t.Fatalf("event %d returned after cursor %d", e.ID, after)
			}
			after = e.ID
		}
		seen = append(seen, page...)
	}
	wg.Wait()
	if len(seen) != writers*each {
		t.Fatalf("tailed %d events, want %d", len(seen), writers*each)
	}
	// Per writer, events come in the order they were appended.
	next := map[string]int{}
	for _, e := range seen {
		if e.Release != next[e.App] {
			t.Fatalf("writer %s: event %d out of order (want %d)", e.App, e.Release, next[e.App])
		}
		next[e.App]++
	}
}
