package clusterfile

import (
	"fmt"
	"strings"
)

// Error is a problem found in a cluster file. It says where the problem is, so an
// editor can jump to it, and when it can, what to write instead.
type Error struct {
	File   string // the file name as the user gave it
	Line   int    // 1-based; 0 when the problem is not tied to a line
	Column int    // 1-based; 0 when only the line is known
	Msg    string // what is wrong and, when it can be said, what to do
}

// Error formats the problem as compilers do: "cluster.yaml:3:5: unknown field ...".
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

// unknownKey words the error for a key that is not a known setting: a suggestion
// when the key looks like a typo of a known one, the list of known ones otherwise.
func unknownKey(key, where string, known []string) string {
	msg := fmt.Sprintf("unknown field %q", key)
	if where != "" {
		msg += " in " + where
	}
	if s := closest(key, known); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; known fields are " + strings.Join(known, ", ")
}

// closest returns the known name nearest to key when it is near enough to be a typo,
// "" otherwise. Case, "-" and "_" are ignored: "server_type" is "serverType".
func closest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	}
	k := norm(key)
	best, bestDist := "", -1
	for _, name := range known {
		// One edit for short names, two for longer ones: beyond that most short
		// names turn into one another and the guess would mislead.
		limit := 1
		if len(name) >= 5 {
			limit = 2
		}
		if d := distance(k, norm(name)); d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = name, d
		}
	}
	return best
}

// distance is the optimal string alignment distance: an insertion, a deletion, a
// substitution or a swap of neighbours costs one, so "cuont" is one edit from "count".
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1) // row i-2
	prev := make([]int, len(rb)+1)  // row i-1
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
