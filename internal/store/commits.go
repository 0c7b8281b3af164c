package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Commit is a git commit pushed to an app. Lead times are measured from its
// author time (which survives rebase and cherry-pick) to the moment a release
// of it went live.
type Commit struct {
	App        string    `json:"app"`
	SHA        string    `json:"sha"`
	Branch     string    `json:"branch"`
	Author     string    `json:"author"` // "Name <email>"
	AuthorTime time.Time `json:"author_time"`
	CommitTime time.Time `json:"commit_time"`
	Message    string    `json:"message"`
	PushedAt   time.Time `json:"pushed_at"`
	// Parents are the shas of the commit's parents: the delivery readings walk
	// them to know which commits a release brought live.
	Parents []string `json:"parents,omitempty"`
}

// RecordCommits stores pushed commits in one transaction. It is idempotent on
// (app, sha): a commit seen before keeps its first branch and pushed_at, so a
// re-push does not shorten the commit's measured lead time. PushedAt defaults to
// now. It returns ErrNotFound if an app does not exist.
func (s *Store) RecordCommits(ctx context.Context, commits []Commit) error {
	if len(commits) == 0 {
		return nil
	}
	now := s.nowUTC()
	for _, c := range commits {
		if c.SHA == "" {
			return fmt.Errorf("record commits of app %q: empty sha: %w", c.App, ErrInvalid)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		checked := map[string]bool{}
		for _, c := range commits {
			if !checked[c.App] {
				if err := appExists(ctx, tx, c.App); err != nil {
					return fmt.Errorf("app %q: %w", c.App, err)
				}
				checked[c.App] = true
			}
			pushed := c.PushedAt
			if pushed.IsZero() {
				pushed = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO commits
	(app, sha, branch, author, author_time, commit_time, message, pushed_at, parents)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (app, sha) DO NOTHING`,
				c.App, c.SHA, c.Branch, c.Author, toNanos(c.AuthorTime), toNanos(c.CommitTime),
				c.Message, toNanos(pushed), strings.Join(c.Parents, " ")); err != nil {
				return fmt.Errorf("commit %s: %w", c.SHA, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record commits: %w", err)
	}
	return nil
}

// GetCommit returns one commit of an app, or ErrNotFound.
func (s *Store) GetCommit(ctx context.Context, app, sha string) (Commit, error) {
	cs, err := s.queryCommits(ctx, `WHERE app = $1 AND sha = $2`, app, sha)
	if err != nil {
		return Commit{}, fmt.Errorf("get commit %s of app %q: %w", sha, app, err)
	}
	if len(cs) == 0 {
		return Commit{}, fmt.Errorf("get commit %s of app %q: %w", sha, app, ErrNotFound)
	}
	return cs[0], nil
}

// ListCommits returns the commits of an app, newest commit time first, at most
// limit of them (all when limit <= 0). It returns ErrNotFound if the app does
// not exist.
func (s *Store) ListCommits(ctx context.Context, app string, limit int) ([]Commit, error) {
	if err := appExists(ctx, s.r, app); err != nil {
		return nil, fmt.Errorf("list commits of app %q: %w", app, err)
	}
	where := `WHERE app = $1 ORDER BY commit_time DESC, pushed_at DESC, sha`
	args := []any{app}
	if limit > 0 {
		where += ` LIMIT $2`
		args = append(args, limit)
	}
	cs, err := s.queryCommits(ctx, where, args...)
	if err != nil {
		return nil, fmt.Errorf("list commits of app %q: %w", app, err)
	}
	return cs, nil
}

func (s *Store) queryCommits(ctx context.Context, where string, args ...any) ([]Commit, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT app, sha, branch, author, author_time, commit_time, message, pushed_at, parents
FROM commits `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cs := []Commit{}
	for rows.Next() {
		var c Commit
		var authored, committed, pushed int64
		var parents string
		if err := rows.Scan(&c.App, &c.SHA, &c.Branch, &c.Author, &authored, &committed, &c.Message, &pushed, &parents); err != nil {
			return nil, err
		}
		if parents != "" {
			c.Parents = strings.Fields(parents)
		}
		c.AuthorTime, c.CommitTime, c.PushedAt = fromNanos(authored), fromNanos(committed), fromNanos(pushed)
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// CommitsAfter returns up to limit commits of every app recorded after the
// cursor, in the order they were recorded, and the cursor to pass next time (0
// starts from the beginning). The delivery readings follow the commits with it.
func (s *Store) CommitsAfter(ctx context.Context, cursor int64, limit int) ([]Commit, int64, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT rowid, app, sha, branch, author, author_time, commit_time, message, pushed_at, parents
FROM commits WHERE rowid > $1 ORDER BY rowid LIMIT $2`, cursor, limit)
	if err != nil {
		return nil, cursor, fmt.Errorf("commits after %d: %w", cursor, err)
	}
	defer rows.Close()
	var cs []Commit
	for rows.Next() {
		var c Commit
		var authored, committed, pushed int64
		var parents string
		if err := rows.Scan(&cursor, &c.App, &c.SHA, &c.Branch, &c.Author, &authored, &committed, &c.Message, &pushed, &parents); err != nil {
			return nil, cursor, err
		}
		c.AuthorTime, c.CommitTime, c.PushedAt = fromNanos(authored), fromNanos(committed), fromNanos(pushed)
		if parents != "" {
			c.Parents = strings.Fields(parents)
		}
		cs = append(cs, c)
	}
	return cs, cursor, rows.Err()
}
