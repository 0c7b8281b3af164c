package appconfig

import (
	"fmt"
	"strings"
)

// Error is a problem found in a prosper.yaml file. It always says where the problem
// is, so a user can jump to it, and when possible what to write instead.
type Error struct {
	File   string // the file name as the user knows it, e.g. "prosper.yaml"
	Line   int    // 1-based; 0 when the problem is not tied to a line
	Column int    // 1-based; 0 when only the line is known
	Msg    string // what is wrong and, when it can be said, what to do
}

// Error formats the problem like a compiler does: "prosper.yaml:3:1: unknown field ...".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// unknownField words the error for a key that is not a known setting: a suggestion
// when the key looks like a typo of a known one, the whole list otherwise.
func unknownField(what, key, where string, known []string) string {
	msg := fmt.Sprintf("unknown %s %q", what, key)
	if where != "" {
		msg += " in " + where
	}
	if s := suggest(key, known); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + fmt.Sprintf("; known %ss are %s", what, strings.Join(known, ", "))
}

// suggest returns the known name closest to key when it is close enough to be a
// typo, "" otherwise. Case and the hyphen/underscore choice do not count as typos.
func suggest(key string, known []string) string {
	norm := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(norm, k)
		// Allow one edit for short names and two for longer ones: two edits turn
		// most short words into one another, and a wrong guess misleads.
		limit := 1
		if len(k) >= 5 {
			limit = 2
		}
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of adjacent characters each cost one, so the
// common "buidl" for "build" is a single edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
