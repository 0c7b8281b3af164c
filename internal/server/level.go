package server

import (
	"strings"

	"github.com/prosperhq/prosper/internal/runtime"
)

// matchesLevel tells whether a log line is of the given level. Apps write levels in
// many ways; the common ones are recognised: JSON ("level":"error"), logfmt
// (level=error), and a bracketed or leading word ([ERROR], ERROR:). A line with no
// level counts as "error" when written to stderr and "info" otherwise.
func matchesLevel(l runtime.LogLine, level string) bool {
	want := strings.ToLower(level)
	text := strings.ToLower(l.Text)
	for _, form := range []string{`"level":"` + want + `"`, `"level": "` + want + `"`, "level=" + want, "[" + want + "]", want + ":"} {
		if strings.Contains(text, form) {
			return true
		}
	}
	for _, other := range []string{"debug", "info", "warn", "error"} {
		if strings.Contains(text, "level="+other) || strings.Contains(text, `"level":"`+other+`"`) {
			return false
		}
	}
	if l.Stream == "stderr" {
		return want == "error"
	}
	return want == "info"
}
