package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// configNamePattern is a portable environment variable name.
var configNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Config returns the config vars of an app: the environment of its next release.
// It returns an empty map when none are set and ErrNotFound if the app does not
// exist.
func (s *Store) Config(ctx context.Context, app string) (map[string]string, error) {
	cfg, err := readConfig(ctx, s.r, app)
	if err != nil {
		return nil, fmt.Errorf("config of app %q: %w", app, err)
	}
	return cfg, nil
}

// SetConfig sets the vars in set and removes those in unset, in one
// transaction, and returns the app's new full config. Unsetting a var that is
// not set is not an error; naming a var in both set and unset is ErrInvalid.
func (s *Store) SetConfig(ctx context.Context, app string, set map[string]string, unset []string) (map[string]string, error) {
	for k, v := range set {
		if !configNamePattern.MatchString(k) {
			return nil, fmt.Errorf("set config of app %q: name %q: use letters, digits and '_', not starting with a digit: %w", app, k, ErrInvalid)
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("set config of app %q: value of %s contains a NUL byte: %w", app, k, ErrInvalid)
		}
	}
	for _, k := range unset {
		if _, ok := set[k]; ok {
			return nil, fmt.Errorf("set config of app %q: %s is both set and unset: %w", app, k, ErrInvalid)
		}
	}
	var cfg map[string]string
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := appExists(ctx, tx, app); err != nil {
			return err
		}
		for k, v := range set {
			if _, err := tx.ExecContext(ctx, `INSERT INTO config_vars (app, name, value) VALUES ($1, $2, $3)
ON CONFLICT (app, name) DO UPDATE SET value = excluded.value`, app, k, v); err != nil {
				return err
			}
		}
		for _, k := range unset {
			if _, err := tx.ExecContext(ctx, `DELETE FROM config_vars WHERE app = $1 AND name = $2`, app, k); err != nil {
				return err
			}
		}
		var err error
		cfg, err = readConfig(ctx, tx, app)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set config of app %q: %w", app, err)
	}
	return cfg, nil
}

func readConfig(ctx context.Context, q queryer, app string) (map[string]string, error) {
	if err := appExists(ctx, q, app); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT name, value FROM config_vars WHERE app = $1`, app)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cfg := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		cfg[k] = v
	}
	return cfg, rows.Err()
}
