package store

import (
	"fmt"
	"strings"
)

// filter builds the WHERE clause of a listing with numbered placeholders ($1,
// $2 ...), which both SQLite and PostgreSQL read.
type filter struct {
	conds []string
	args  []any
}

// arg adds a value and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return fmt.Sprintf("$%d", len(f.args))
}

// where adds a condition, written with the placeholders arg returned.
func (f *filter) where(cond string) { f.conds = append(f.conds, cond) }

// clause returns " WHERE a AND b", or "" without conditions.
func (f *filter) clause() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}
