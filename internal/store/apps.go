package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultDeployBranch is the branch whose pushes deploy when an app names none.
const DefaultDeployBranch = "main"

// App is an application deployed by prosper.
type App struct {
	Name string `json:"name"`
	Team string `json:"team"`
	// Domains are custom host names routed to the app besides NAME.localhost,
	// lower-cased, sorted and unique across apps.
	Domains      []string  `json:"domains"`
	DeployBranch string    `json:"deploy_branch"`
	CreatedAt    time.Time `json:"created_at"`
}

// MarshalJSON writes Domains as [] rather than null when there are none, so that
// clients of `-o json` can iterate without a null check.
func (a App) MarshalJSON() ([]byte, error) {
	type plain App
	p := plain(a)
	if p.Domains == nil {
		p.Domains = []string{}
	}
	return json.Marshal(p)
}

// appNamePattern is a DNS label: the name becomes NAME.localhost and a git path.
var appNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// domainPattern is a host name without port or trailing dot.
var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateAppName reports whether name can name an app: a DNS label of lower-case
// letters, digits and inner hyphens, at most 63 characters.
func ValidateAppName(name string) error {
	if !appNamePattern.MatchString(name) {
		return fmt.Errorf("app name %q: use 1-63 lower-case letters, digits and inner hyphens: %w", name, ErrInvalid)
	}
	return nil
}

// normalizeApp validates a and fills its defaults.
func normalizeApp(a App) (App, error) {
	if err := ValidateAppName(a.Name); err != nil {
		return a, err
	}
	a.Team = strings.TrimSpace(a.Team)
	a.DeployBranch = strings.TrimSpace(a.DeployBranch)
	if a.DeployBranch == "" {
		a.DeployBranch = DefaultDeployBranch
	}
	domains := make([]string, 0, len(a.Domains))
	for _, d := range a.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if len(d) > 253 || !domainPattern.MatchString(d) {
			return a, fmt.Errorf("domain %q: not a host name: %w", d, ErrInvalid)
		}
		domains = append(domains, d)
	}
	slices.Sort(domains)
	a.Domains = slices.Compact(domains)
	return a, nil
}

// CreateApp creates an app. It fills DeployBranch (DefaultDeployBranch) and
// CreatedAt (now) when they are zero, and returns the stored app. It returns
// ErrExists if the name, or one of the domains, is taken.
func (s *Store) CreateApp(ctx context.Context, a App) (App, error) {
	a, err := normalizeApp(a)
	if err != nil {
		return App{}, fmt.Errorf("create app: %w", err)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.nowUTC()
	}
	a.CreatedAt = a.CreatedAt.UTC()
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getApp(ctx, tx, a.Name); err == nil {
			return ErrExists
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO apps (name, team, deploy_branch, created_at) VALUES ($1, $2, $3, $4)`,
			a.Name, a.Team, a.DeployBranch, toNanos(a.CreatedAt)); err != nil {
			if isUniqueViolation(err) {
				return ErrExists
			}
			return err
		}
		return setDomains(ctx, tx, a.Name, a.Domains)
	})
	if err != nil {
		return App{}, fmt.Errorf("create app %q: %w", a.Name, err)
	}
	return a, nil
}

// GetApp returns the app called name, or ErrNotFound.
func (s *Store) GetApp(ctx context.Context, name string) (App, error) {
	a, err := getApp(ctx, s.r, name)
	if err != nil {
		return App{}, fmt.Errorf("get app %q: %w", name, err)
	}
	return a, nil
}

// ListApps returns every app, ordered by name.
func (s *Store) ListApps(ctx context.Context) ([]App, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, team, deploy_branch, created_at FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	apps := []App{}
	for rows.Next() {
		var a App
		var created int64
		if err := rows.Scan(&a.Name, &a.Team, &a.DeployBranch, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list apps: %w", err)
		}
		a.CreatedAt = fromNanos(created)
		a.Domains = []string{}
		apps = append(apps, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}

	// One query for all domains rather than one per app.
	byName := make(map[string]*App, len(apps))
	for i := range apps {
		byName[apps[i].Name] = &apps[i]
	}
	drows, err := s.r.QueryContext(ctx, `SELECT app, domain FROM app_domains ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("list apps: domains: %w", err)
	}
	defer drows.Close()
	for drows.Next() {
		var app, domain string
		if err := drows.Scan(&app, &domain); err != nil {
			return nil, fmt.Errorf("list apps: domains: %w", err)
		}
		// An app created between the two queries is simply left out.
		if a, ok := byName[app]; ok {
			a.Domains = append(a.Domains, domain)
		}
	}
	if err := drows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: domains: %w", err)
	}
	return apps, nil
}

// UpdateApp stores the team, domains and deploy branch of an existing app (an
// empty DeployBranch becomes DefaultDeployBranch). It returns ErrNotFound if the
// app does not exist and ErrExists if a domain belongs to another app.
func (s *Store) UpdateApp(ctx context.Context, a App) error {
	a, err := normalizeApp(a)
	if err != nil {
		return fmt.Errorf("update app: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE apps SET team = $1, deploy_branch = $2 WHERE name = $3`,
			a.Team, a.DeployBranch, a.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM app_domains WHERE app = $1`, a.Name); err != nil {
			return err
		}
		return setDomains(ctx, tx, a.Name, a.Domains)
	})
	if err != nil {
		return fmt.Errorf("update app %q: %w", a.Name, err)
	}
	return nil
}

// DeleteApp deletes an app with its releases, config and commits. Its events stay
// in the log, which is append-only.
func (s *Store) DeleteApp(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete app %q: %w", name, err)
	}
	return nil
}

// queryer is what reads need from a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getApp(ctx context.Context, q queryer, name string) (App, error) {
	a := App{Name: name, Domains: []string{}}
	var created int64
	err := q.QueryRowContext(ctx,
		`SELECT team, deploy_branch, created_at FROM apps WHERE name = $1`, name).
		Scan(&a.Team, &a.DeployBranch, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return App{}, ErrNotFound
	}
	if err != nil {
		return App{}, err
	}
	a.CreatedAt = fromNanos(created)
	rows, err := q.QueryContext(ctx, `SELECT domain FROM app_domains WHERE app = $1 ORDER BY domain`, name)
	if err != nil {
		return App{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return App{}, err
		}
		a.Domains = append(a.Domains, d)
	}
	return a, rows.Err()
}

// appExists returns ErrNotFound unless the app exists.
func appExists(ctx context.Context, q queryer, name string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE name = $1`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// setDomains adds domains to app; a domain of another app is ErrExists, named in
// the message so the user knows which app to change.
func setDomains(ctx context.Context, tx *sql.Tx, app string, domains []string) error {
	for _, d := range domains {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT app FROM app_domains WHERE domain = $1`, d).Scan(&owner)
		switch {
		case err == nil:
			return fmt.Errorf("domain %q is used by app %q: %w", d, owner, ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO app_domains (domain, app) VALUES ($1, $2)`, d, app); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("domain %q: %w", d, ErrExists)
			}
			return err
		}
	}
	return nil
}
