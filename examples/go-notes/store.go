package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver; pure Go, no cgo
)

var errNotFound = errors.New("note not found")

// note is one row of the notes table, as the API returns it.
type note struct {
	ID        int64     `json:"id"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// store keeps notes in one SQLite file.
type store struct {
	db *sql.DB
}

func openStore(path string) (*store, error) {
	// WAL lets the health check read while a write is in progress; the busy
	// timeout covers the short moments two writers meet.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS notes (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		text TEXT NOT NULL,
		created_at TEXT NOT NULL
	)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

func (s *store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *store) Add(ctx context.Context, text string) (note, error) {
	n := note{Text: text, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	res, err := s.db.ExecContext(ctx, `INSERT INTO notes (text, created_at) VALUES (?, ?)`,
		n.Text, n.CreatedAt.Format(time.RFC3339Nano))
	if err != nil {
		return note{}, fmt.Errorf("insert note: %w", err)
	}
	if n.ID, err = res.LastInsertId(); err != nil {
		return note{}, fmt.Errorf("insert note: %w", err)
	}
	return n, nil
}

func (s *store) Get(ctx context.Context, id int64) (note, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, text, created_at FROM notes WHERE id = ?`, id)
	n, err := scanNote(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return note{}, errNotFound
	}
	return n, err
}

func (s *store) List(ctx context.Context) ([]note, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, text, created_at FROM notes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list notes: %w", err)
	}
	defer rows.Close()
	list := []note{}
	for rows.Next() {
		n, err := scanNote(rows.Scan)
		if err != nil {
			return nil, err
		}
		list = append(list, n)
	}
	return list, rows.Err()
}

func scanNote(scan func(...any) error) (note, error) {
	var n note
	var created string
	if err := scan(&n.ID, &n.Text, &created); err != nil {
		return note{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return note{}, fmt.Errorf("read created_at of note %d: %w", n.ID, err)
	}
	n.CreatedAt = t
	return n, nil
}
