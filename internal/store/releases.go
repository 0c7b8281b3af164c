package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Release statuses. A release is created building; a failed build ends failed; a
// built release is verifying until the rollout promotes it (live) or rejects it.
// A live release that another one replaces becomes superseded, or rolled_back
// when the replacement is a rollback.
const (
	StatusBuilding   = "building"
	StatusFailed     = "failed"
	StatusVerifying  = "verifying"
	StatusRejected   = "rejected"
	StatusLive       = "live"
	StatusSuperseded = "superseded"
	StatusRolledBack = "rolled_back"
)

// Statuses lists every release status.
var Statuses = []string{StatusBuilding, StatusFailed, StatusVerifying, StatusRejected, StatusLive, StatusSuperseded, StatusRolledBack}

// Release is one numbered version of an app: a build of a commit (or working
// tree) with a snapshot of the app's config.
type Release struct {
	App     string `json:"app"`
	Version int    `json:"version"` // 1, 2, 3 ... per app, assigned by CreateRelease
	Status  string `json:"status"`
	Commit  string `json:"commit"` // sha, empty for a working-tree deploy
	Branch  string `json:"branch,omitempty"`
	// Source is what caused the release: "git", "deploy", "config", "rollback".
	Source     string `json:"source"`
	Artifact   string `json:"artifact,omitempty"` // directory of the built release
	Command    string `json:"command,omitempty"`  // how to run it
	HealthPath string `json:"health_path,omitempty"`
	Replicas   int    `json:"replicas"`
	// Env is the config snapshot; it is immutable once the release is created.
	Env      map[string]string `json:"env,omitempty"`
	BuildLog string            `json:"build_log,omitempty"` // path of the build log file
	// Reasons say why the release failed or was rejected; [] in JSON, never null.
	Reasons []string `json:"reasons"`
	// Phases are seconds per phase: receive, build, start, health, switch.
	Phases     map[string]float64 `json:"phases,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	LiveAt     *time.Time         `json:"live_at,omitempty"` // first time it went live
	FinishedAt *time.Time         `json:"finished_at,omitempty"`
	// Verification is the mirror phase's report (gates with their figures,
	// per-endpoint differences with examples, a summary of the bot runs), written
	// by the rollout. The store keeps it as opaque JSON; nil when there is none.
	Verification json.RawMessage `json:"verification,omitempty"`
}

// MarshalJSON writes Reasons as [] rather than null when there are none.
func (r Release) MarshalJSON() ([]byte, error) {
	type plain Release
	p := plain(r)
	if p.Reasons == nil {
		p.Reasons = []string{}
	}
	return json.Marshal(p)
}

func validStatus(s string) error {
	if !slices.Contains(Statuses, s) {
		return fmt.Errorf("release status %q: want one of %s: %w", s, strings.Join(Statuses, ", "), ErrInvalid)
	}
	return nil
}

// CreateRelease stores a new release of r.App and returns it. The version is the
// app's next one (1, 2, 3 ...), assigned atomically from a counter on the app, so
// concurrent calls never share or skip a number. Status defaults to
// StatusBuilding, Replicas to 1 and CreatedAt to now. Verification, if any, must
// be valid JSON (ErrInvalid). It returns ErrNotFound if the app does not exist.
func (s *Store) CreateRelease(ctx context.Context, r Release) (Release, error) {
	if r.Status == "" {
		r.Status = StatusBuilding
	}
	if err := validStatus(r.Status); err != nil {
		return Release{}, fmt.Errorf("create release of app %q: %w", r.App, err)
	}
	if r.Status == StatusLive {
		return Release{}, fmt.Errorf("create release of app %q: a release goes live through Promote: %w", r.App, ErrInvalid)
	}
	if r.Replicas <= 0 {
		r.Replicas = 1
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.nowUTC()
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	// The env is a snapshot: copy it so later changes to the caller's map do not
	// show in the returned release.
	if r.Env != nil {
		r.Env = maps.Clone(r.Env)
	}
	env, reasons, phases, err := encodeReleaseJSON(r)
	if err != nil {
		return Release{}, fmt.Errorf("create release of app %q: %w", r.App, err)
	}
	var verification sql.NullString
	r.Verification, verification, err = encodeVerification(r.Verification)
	if err != nil {
		return Release{}, fmt.Errorf("create release of app %q: %w", r.App, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		// UPDATE ... RETURNING takes the app's row lock in PostgreSQL as well, which
		// is what makes the counter safe there too.
		err := tx.QueryRowContext(ctx,
			`UPDATE apps SET release_seq = release_seq + 1 WHERE name = $1 RETURNING release_seq`,
			r.App).Scan(&r.Version)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO releases (app, version, status, commit_sha, branch, source,
	artifact, command, health_path, replicas, env, build_log, reasons, phases, created_at, live_at, finished_at,
	verification)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			r.App, r.Version, r.Status, r.Commit, r.Branch, r.Source,
			r.Artifact, r.Command, r.HealthPath, r.Replicas, env, r.BuildLog, reasons, phases,
			toNanos(r.CreatedAt), nullNanos(r.LiveAt), nullNanos(r.FinishedAt), verification)
		return err
	})
	if err != nil {
		return Release{}, fmt.Errorf("create release of app %q: %w", r.App, err)
	}
	return r, nil
}

// UpdateRelease stores the mutable fields of an existing release: status,
// artifact, command, health path, replicas, reasons, phases, build log, live and
// finished times, and the verification report (which must be valid JSON, or nil
// for none). The other fields (commit, env, source...) are fixed at creation. A
// release only becomes live through Promote, so setting StatusLive on a release
// that is not live already is ErrInvalid. It returns ErrNotFound if the release
// does not exist.
func (s *Store) UpdateRelease(ctx context.Context, r Release) error {
	if err := validStatus(r.Status); err != nil {
		return fmt.Errorf("update release %s v%d: %w", r.App, r.Version, err)
	}
	_, reasons, phases, err := encodeReleaseJSON(r)
	if err != nil {
		return fmt.Errorf("update release %s v%d: %w", r.App, r.Version, err)
	}
	_, verification, err := encodeVerification(r.Verification)
	if err != nil {
		return fmt.Errorf("update release %s v%d: %w", r.App, r.Version, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var current string
		err := tx.QueryRowContext(ctx, `SELECT status FROM releases WHERE app = $1 AND version = $2`,
			r.App, r.Version).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if r.Status == StatusLive && current != StatusLive {
			return fmt.Errorf("status %s to live: use Promote: %w", current, ErrInvalid)
		}
		_, err = tx.ExecContext(ctx, `UPDATE releases SET status = $1, artifact = $2, command = $3,
	health_path = $4, reasons = $5, phases = $6, build_log = $7, live_at = $8, finished_at = $9, replicas = $10,
	verification = $11
WHERE app = $12 AND version = $13`,
			r.Status, r.Artifact, r.Command, r.HealthPath, reasons, phases, r.BuildLog,
			nullNanos(r.LiveAt), nullNanos(r.FinishedAt), max(r.Replicas, 1), verification, r.App, r.Version)
		return err
	})
	if err != nil {
		return fmt.Errorf("update release %s v%d: %w", r.App, r.Version, err)
	}
	return nil
}

// GetRelease returns one release, or ErrNotFound.
func (s *Store) GetRelease(ctx context.Context, app string, version int) (Release, error) {
	r, err := getRelease(ctx, s.r, app, version)
	if err != nil {
		return Release{}, fmt.Errorf("get release %s v%d: %w", app, version, err)
	}
	return r, nil
}

// ListReleases returns the releases of an app, newest first. It returns
// ErrNotFound if the app does not exist.
func (s *Store) ListReleases(ctx context.Context, app string) ([]Release, error) {
	if err := appExists(ctx, s.r, app); err != nil {
		return nil, fmt.Errorf("list releases of app %q: %w", app, err)
	}
	rs, err := queryReleases(ctx, s.r, `WHERE app = $1 ORDER BY version DESC`, app)
	if err != nil {
		return nil, fmt.Errorf("list releases of app %q: %w", app, err)
	}
	return rs, nil
}

// LiveRelease returns the app's live release, or ErrNotFound when none is live.
func (s *Store) LiveRelease(ctx context.Context, app string) (Release, error) {
	r, err := liveRelease(ctx, s.r, app)
	if err != nil {
		return Release{}, fmt.Errorf("live release of app %q: %w", app, err)
	}
	return r, nil
}

// ReleasesInStatus lists the releases of every app whose status is one of
// statuses, ordered by app and version. It serves the repair of deploys
// interrupted by a restart.
func (s *Store) ReleasesInStatus(ctx context.Context, statuses ...string) ([]Release, error) {
	if len(statuses) == 0 {
		return []Release{}, nil
	}
	args := make([]any, len(statuses))
	marks := make([]string, len(statuses))
	for i, st := range statuses {
		args[i] = st
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	rs, err := queryReleases(ctx, s.r,
		`WHERE status IN (`+strings.Join(marks, ", ")+`) ORDER BY app, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("releases in status %s: %w", strings.Join(statuses, ", "), err)
	}
	return rs, nil
}

// releaseColumns is the column list scanRelease reads, in order.
const releaseColumns = `app, version, status, commit_sha, branch, source, artifact, command, health_path,
	replicas, env, build_log, reasons, phases, created_at, live_at, finished_at, verification`

func queryReleases(ctx context.Context, q queryer, where string, args ...any) ([]Release, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+releaseColumns+` FROM releases `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := []Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

func getRelease(ctx context.Context, q queryer, app string, version int) (Release, error) {
	r, err := scanRelease(q.QueryRowContext(ctx,
		`SELECT `+releaseColumns+` FROM releases WHERE app = $1 AND version = $2`, app, version))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, ErrNotFound
	}
	return r, err
}

// liveRelease returns the newest live release; there is at most one unless the
// database was edited by hand.
func liveRelease(ctx context.Context, q queryer, app string) (Release, error) {
	r, err := scanRelease(q.QueryRowContext(ctx,
		`SELECT `+releaseColumns+` FROM releases WHERE app = $1 AND status = $2 ORDER BY version DESC LIMIT 1`,
		app, StatusLive))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, ErrNotFound
	}
	return r, err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRelease(sc scanner) (Release, error) {
	var r Release
	var env, reasons, phases string
	var created int64
	var liveAt, finishedAt sql.NullInt64
	var verification sql.NullString
	if err := sc.Scan(&r.App, &r.Version, &r.Status, &r.Commit, &r.Branch, &r.Source, &r.Artifact,
		&r.Command, &r.HealthPath, &r.Replicas, &env, &r.BuildLog, &reasons, &phases,
		&created, &liveAt, &finishedAt, &verification); err != nil {
		return Release{}, err
	}
	if verification.Valid {
		r.Verification = json.RawMessage(verification.String)
	}
	if err := json.Unmarshal([]byte(env), &r.Env); err != nil {
		return Release{}, fmt.Errorf("release %s v%d: env: %w", r.App, r.Version, err)
	}
	if err := json.Unmarshal([]byte(reasons), &r.Reasons); err != nil {
		return Release{}, fmt.Errorf("release %s v%d: reasons: %w", r.App, r.Version, err)
	}
	if err := json.Unmarshal([]byte(phases), &r.Phases); err != nil {
		return Release{}, fmt.Errorf("release %s v%d: phases: %w", r.App, r.Version, err)
	}
	if len(r.Env) == 0 {
		r.Env = nil
	}
	if len(r.Phases) == 0 {
		r.Phases = nil
	}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	r.CreatedAt = fromNanos(created)
	r.LiveAt = fromNullNanos(liveAt)
	r.FinishedAt = fromNullNanos(finishedAt)
	return r, nil
}

// encodeReleaseJSON encodes the JSON columns; nil maps and slices are stored as
// empty JSON values so the columns are never NULL.
func encodeReleaseJSON(r Release) (env, reasons, phases string, err error) {
	enc := func(v any, empty string) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		if string(b) == "null" {
			return empty, nil
		}
		return string(b), nil
	}
	if env, err = enc(r.Env, "{}"); err != nil {
		return "", "", "", fmt.Errorf("encode env: %w", err)
	}
	if reasons, err = enc(r.Reasons, "[]"); err != nil {
		return "", "", "", fmt.Errorf("encode reasons: %w", err)
	}
	if phases, err = enc(r.Phases, "{}"); err != nil {
		return "", "", "", fmt.Errorf("encode phases: %w", err)
	}
	return env, reasons, phases, nil
}
