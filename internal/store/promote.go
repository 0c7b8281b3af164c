package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Promote makes version the app's only live release, in one transaction: the
// release live before it (if any) gets status previous, which must be
// StatusSuperseded or StatusRolledBack, and version gets StatusLive, with LiveAt
// set to now the first time it goes live.
//
// It returns the release that was live before, as stored after the change
// (ok=false if none was). Promoting the release that is already live changes
// nothing and returns ok=false. A release still building, or whose build failed,
// has nothing to run and cannot be promoted (ErrInvalid); an unknown release is
// ErrNotFound.
func (s *Store) Promote(ctx context.Context, app string, version int, previous string) (prev Release, ok bool, err error) {
	if previous != StatusSuperseded && previous != StatusRolledBack {
		return Release{}, false, fmt.Errorf("promote %s v%d: previous live release status %q: want %s or %s: %w",
			app, version, previous, StatusSuperseded, StatusRolledBack, ErrInvalid)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		target, err := getRelease(ctx, tx, app, version)
		if err != nil {
			return err
		}
		switch target.Status {
		case StatusLive:
			return nil
		case StatusBuilding, StatusFailed:
			return fmt.Errorf("release is %s: %w", target.Status, ErrInvalid)
		}
		// Every other live release is demoted, not just the newest, so a database
		// left with two live releases is repaired by the next promotion.
		rows, err := tx.QueryContext(ctx,
			`SELECT version FROM releases WHERE app = $1 AND status = $2 ORDER BY version DESC`, app, StatusLive)
		if err != nil {
			return err
		}
		var live []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			live = append(live, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, v := range live {
			if _, err := tx.ExecContext(ctx,
				`UPDATE releases SET status = $1 WHERE app = $2 AND version = $3`, previous, app, v); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE releases SET status = $1, live_at = COALESCE(live_at, $2) WHERE app = $3 AND version = $4`,
			StatusLive, toNanos(s.nowUTC()), app, version); err != nil {
			return err
		}
		if len(live) > 0 {
			prev, err = getRelease(ctx, tx, app, live[0])
			if err != nil {
				return err
			}
			ok = true
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Release{}, false, fmt.Errorf("promote %s v%d: release %w", app, version, err)
	}
	if err != nil {
		return Release{}, false, fmt.Errorf("promote %s v%d: %w", app, version, err)
	}
	return prev, ok, nil
}
