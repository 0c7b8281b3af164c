package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMigration2OnVersion1Database(t *testing.T) { eachBackend(t, testMigration2OnVersion1Database) }

func testMigration2OnVersion1Database(t *testing.T, be backend) {
	// A database written by the previous prosper (schema version 1) gains the
	// verification column and the incidents and bot_runs tables, and keeps its data.
	ctx := context.Background()
	location := be.newLocation(t)
	db := be.rawDB(t, location)
	if err := migrate(ctx, db, be.dialect, be.dialect.migrations()[:1]); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	created := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	for _, stmt := range []string{
		`INSERT INTO apps (name, deploy_branch, release_seq, created_at) VALUES ('shop', 'main', 1, $1)`,
		`INSERT INTO releases (app, version, status, commit_sha, source, reasons, phases, created_at)
VALUES ('shop', 1, 'live', 'abc', 'git', '[]', '{"build":2.5}', $1)`,
		`INSERT INTO events (occurred_at, type, app, release_version) VALUES ($1, 'release.promoted', 'shop', 1)`,
	} {
		if _, err := db.ExecContext(ctx, stmt, created.UnixNano()); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenURL(ctx, location)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	var version int
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version = %d, %v; want %d", version, err, len(migrations))
	}
	rel, err := s.GetRelease(ctx, "shop", 1)
	if err != nil {
		t.Fatalf("release written at version 1: %v", err)
	}
	want := Release{App: "shop", Version: 1, Status: StatusLive, Commit: "abc", Source: "git", Replicas: 1,
		Reasons: []string{}, Phases: map[string]float64{"build": 2.5}, CreatedAt: created}
	if !reflect.DeepEqual(rel, want) {
		t.Errorf("release after migration =\n%+v\nwant\n%+v", rel, want)
	}
	if events, err := s.Events(ctx, EventQuery{}); err != nil || len(events) != 1 || events[0].Type != "release.promoted" {
		t.Errorf("events after migration = %+v, %v", events, err)
	}
	// The old release takes a report, and the new tables work.
	rel.Verification = json.RawMessage(`{"verdict":"pass"}`)
	if err := s.UpdateRelease(ctx, rel); err != nil {
		t.Fatalf("UpdateRelease with a verification: %v", err)
	}
	if _, err := s.OpenIncident(ctx, Incident{App: "shop", Title: "down", Cause: CauseManual}); err != nil {
		t.Errorf("OpenIncident after migration: %v", err)
	}
	if err := s.RecordBotRuns(ctx, []BotRun{{App: "shop", Release: 1, Target: TargetLive, Scenario: "smoke", Passed: true}}); err != nil {
		t.Errorf("RecordBotRuns after migration: %v", err)
	}
	var indexes []string
	// The indexes created by CREATE INDEX, not those behind the primary key.
	query := `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'bot_runs' AND sql IS NOT NULL ORDER BY name`
	if be.dialect == dialectPostgres {
		query = `SELECT indexname FROM pg_indexes WHERE tablename = 'bot_runs' AND indexname <> 'bot_runs_pkey' ORDER BY indexname`
	}
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	if want := []string{"bot_runs_app_release", "bot_runs_app_started"}; !reflect.DeepEqual(indexes, want) {
		t.Errorf("bot_runs indexes = %v, want %v", indexes, want)
	}
}

func TestReleaseVerification(t *testing.T) { eachBackend(t, testReleaseVerification) }

func testReleaseVerification(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")

	report := json.RawMessage(`{"gates":[{"name":"error_rate","live":0.01,"candidate":0.02,"pass":true}],"bots":{"runs":40}}`)
	buf := append(json.RawMessage(nil), report...)
	created, err := s.CreateRelease(ctx, Release{App: "shop", Status: StatusVerifying, Verification: buf})
	if err != nil {
		t.Fatalf("CreateRelease with a verification: %v", err)
	}
	buf[2] = 'X' // the caller reusing its buffer must not change the release
	if string(created.Verification) != string(report) {
		t.Errorf("CreateRelease returned verification %s, want %s", created.Verification, report)
	}
	got, err := s.GetRelease(ctx, "shop", created.Version)
	if err != nil || string(got.Verification) != string(report) {
		t.Fatalf("GetRelease verification = %s, %v; want %s", got.Verification, err, report)
	}

	// Every reading of a release carries it: lists, the live release, Promote.
	if _, _, err := s.Promote(ctx, "shop", created.Version, StatusSuperseded); err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveRelease(ctx, "shop")
	if err != nil || string(live.Verification) != string(report) {
		t.Errorf("LiveRelease verification = %s, %v", live.Verification, err)
	}
	if list, err := s.ListReleases(ctx, "shop"); err != nil || string(list[0].Verification) != string(report) {
		t.Errorf("ListReleases verification = %v, %v", list, err)
	}
	if list, err := s.ReleasesInStatus(ctx, StatusLive); err != nil || string(list[0].Verification) != string(report) {
		t.Errorf("ReleasesInStatus verification = %v, %v", list, err)
	}

	// The report is embedded in the release's JSON as JSON, not as a string.
	b, err := json.Marshal(live)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"verification":`+string(report)) {
		t.Errorf("release JSON %s does not embed the report", b)
	}
	var back Release
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, live) {
		t.Errorf("JSON round trip = %+v, %v; want %+v", back, err, live)
	}

	tests := []struct {
		name    string
		set     json.RawMessage
		want    json.RawMessage // nil: none stored
		wantErr error
	}{
		{"replaced", json.RawMessage(`{"verdict":"fail"}`), json.RawMessage(`{"verdict":"fail"}`), nil},
		{"array", json.RawMessage(`[1,2]`), json.RawMessage(`[1,2]`), nil},
		{"null is none", json.RawMessage(` null `), nil, nil},
		{"cleared", nil, nil, nil},
		{"invalid", json.RawMessage(`{"verdict":`), nil, ErrInvalid},
		{"not JSON", json.RawMessage(`pass`), nil, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := live
			r.Verification = tc.set
			err := s.UpdateRelease(ctx, r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpdateRelease err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			got, err := s.GetRelease(ctx, "shop", r.Version)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Verification, tc.want) {
				t.Errorf("verification = %q, want %q", got.Verification, tc.want)
			}
			if b, _ := json.Marshal(got); tc.want == nil && strings.Contains(string(b), "verification") {
				t.Errorf("release JSON %s has a verification key; want it left out", b)
			}
		})
	}

	// An invalid report is refused at creation too, and consumes no version.
	if _, err := s.CreateRelease(ctx, Release{App: "shop", Verification: json.RawMessage(`{`)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateRelease with invalid verification err = %v, want ErrInvalid", err)
	}
	if r, err := s.CreateRelease(ctx, Release{App: "shop"}); err != nil || r.Version != 2 || r.Verification != nil {
		t.Errorf("CreateRelease after the refusal = v%d with %q, %v; want v2 without verification", r.Version, r.Verification, err)
	}
}
