package server

import (
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

// parseLevel returns the level a name stands for ("WARNING" is "warn").
func parseLevel(name string) (string, bool) { return node.ParseLevel(name) }

// matchesLevel tells whether a log line is of the given level or worse:
// --level warn shows warnings and errors. The node gives each line its level
// (node.LineLevel); a line without one is judged from its text here.
func matchesLevel(l runtime.LogLine, level string) bool {
	want, ok := parseLevel(level)
	return ok && node.LevelAtLeast(lineLevel(l), want)
}

// lineLevel is the level of a log line: debug, info, warn or error.
func lineLevel(l runtime.LogLine) string {
	if l.Level != "" {
		return l.Level
	}
	return node.LineLevel(l.Stream, l.Text)
}
