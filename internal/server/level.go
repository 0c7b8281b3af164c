package server

import (
	"strings"

	"github.com/prosperhq/prosper/internal/runtime"
)

// levelNames maps the names apps give levels to the four that --level takes.
var levelNames = map[string]string{
	"trace": "debug", "debug": "debug",
	"info": "info", "notice": "info",
	"warn": "warn", "warning": "warn",
	"error": "error", "err": "error", "fatal": "error", "critical": "error", "panic": "error",
}

// numericLevels are the levels of pino and bunyan, Node.js's JSON loggers.
var numericLevels = map[string]string{"10": "trace", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal"}

// parseLevel returns the level a name stands for ("WARNING" is "warn").
func parseLevel(name string) (string, bool) {
	l, ok := levelNames[strings.ToLower(strings.TrimSpace(name))]
	return l, ok
}

// matchesLevel tells whether a log line is of the given level. Apps write levels in
// many ways; the common ones are recognised: a level field, JSON ("level":"error")
// or logfmt (level=error), which wins over anything the message says; else the
// first bracketed or trailing-colon word ([ERROR], ERROR:). A line with no level
// counts as "error" when written to stderr and "info" otherwise. Every line is of
// exactly one level, so the four filters split the logs between them.
func matchesLevel(l runtime.LogLine, level string) bool {
	want, ok := parseLevel(level)
	return ok && lineLevel(l) == want
}

// lineLevel is the level of a log line: debug, info, warn or error.
func lineLevel(l runtime.LogLine) string {
	text := strings.ToLower(l.Text)
	if lv, ok := parseLevel(levelField(text)); ok {
		return lv
	}
	if lv, ok := parseLevel(firstLevelWord(text)); ok {
		return lv
	}
	if l.Stream == "stderr" {
		return "error"
	}
	return "info"
}

// levelField returns the value of a JSON "level" key or a logfmt level= field of
// a lower-cased line, or "".
func levelField(text string) string {
	for rest := text; ; {
		i := strings.Index(rest, `"level"`)
		if i < 0 {
			break
		}
		rest = rest[i+len(`"level"`):]
		v := strings.TrimLeft(rest, " \t")
		if v, ok := strings.CutPrefix(v, ":"); ok {
			v = strings.TrimLeft(v, " \t")
			if v, ok := strings.CutPrefix(v, `"`); ok {
				if end := strings.IndexByte(v, '"'); end >= 0 {
					return v[:end]
				}
			}
			// pino and bunyan write numbers: 10 trace ... 60 fatal.
			if len(v) >= 2 && v[0] >= '1' && v[0] <= '6' && v[1] == '0' && (len(v) == 2 || v[2] < '0' || v[2] > '9') {
				return numericLevels[v[:2]]
			}
		}
	}
	for rest, at := text, 0; ; {
		i := strings.Index(rest, "level=")
		if i < 0 {
			return ""
		}
		if at+i == 0 || text[at+i-1] == ' ' || text[at+i-1] == '\t' {
			v := strings.TrimPrefix(rest[i+len("level="):], `"`)
			if end := strings.IndexAny(v, "\" \t"); end >= 0 {
				v = v[:end]
			}
			return v
		}
		at += i + len("level=")
		rest = rest[i+len("level="):]
	}
}

// firstLevelWord returns the level name that comes first in a lower-cased line as
// "[name]" or as a word followed by a colon ("error:" but not "stderr:"), or "".
func firstLevelWord(text string) string {
	best, bestAt := "", len(text)
	for name := range levelNames {
		for _, form := range []string{"[" + name + "]", name + ":"} {
			for from := 0; from < bestAt; {
				i := strings.Index(text[from:], form)
				if i < 0 {
					break
				}
				at := from + i
				if at >= bestAt {
					break
				}
				if form[0] == '[' || at == 0 || !isWordByte(text[at-1]) {
					best, bestAt = name, at
					break
				}
				from = at + 1
			}
		}
	}
	return best
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_'
}
