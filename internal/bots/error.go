package bots

import (
	"fmt"
	"strings"
)

// Error is a problem in a bot scenario file. It says where the problem is, the way a
// compiler does, so that an editor can jump to it, and what to write instead when
// that can be said.
type Error struct {
	File   string // as the user knows it, e.g. "bots/book-room.yaml"
	Line   int    // 1-based; 0 when the problem concerns the whole file
	Column int    // 1-based; 0 when unknown
	Msg    string
}

// Error formats the problem as "bots/book-room.yaml:4:5: message".
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

// unknownKey words the error for a key the format does not have: the closest known
// key when the unknown one looks like a typo of it, else every known key.
func unknownKey(key, where string, known []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if where != "" {
		msg += " in " + where
	}
	if s := closest(key, known); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; known keys are " + strings.Join(known, ", ")
}

// closest returns the name in known nearest to s when it is near enough to be a
// typo, else "". Letter case and "-" for "_" are not counted as typos.
func closest(s string, known []string) string {
	s = strings.ReplaceAll(strings.ToLower(s), "-", "_")
	best, bestDist := "", 0
	for _, k := range known {
		// Two edits turn most short words into one another, so short names only
		// get one: a wrong suggestion misleads more than none.
		limit := 1
		if len(k) >= 5 {
			limit = 2
		}
		if d := distance(s, k); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// distance counts the insertions, deletions, substitutions and swaps of neighbours
// that turn a into b; a swap counts once because "stpes" is one slip of the hand.
func distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev2 := make([]int, len(y)+1) // row i-2
	prev := make([]int, len(y)+1)  // row i-1
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}
