package node

import (
	"bytes"
	"encoding/json"
	"strconv"
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

// levelRanks orders the four levels; a higher rank is worse.
var levelRanks = map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}

// numericLevels are the levels of pino and bunyan, Node.js's JSON loggers.
var numericLevels = map[string]string{"10": "trace", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal"}

// ParseLevel returns the level a name stands for ("WARNING" is "warn").
func ParseLevel(name string) (string, bool) {
	l, ok := levelNames[strings.ToLower(strings.TrimSpace(name))]
	return l, ok
}

// LevelAtLeast tells whether level is min or worse: "error" is at least "warn".
// An unknown min matches nothing.
func LevelAtLeast(level, min string) bool {
	want, ok := levelRanks[min]
	if !ok {
		return false
	}
	have, ok := levelRanks[level]
	return ok && have >= want
}

// LineLevel is the level of a line an app wrote: debug, info, warn or error.
// Apps write levels in many ways; the common ones are recognised: a JSON key
// (level, lvl or severity, names or pino's numbers) or logfmt (level=error),
// which wins over anything the message says; else the first bracketed or
// trailing-colon word ([ERROR], ERROR:). A line with no level counts as "error"
// when written to stderr and "info" otherwise, so every line has exactly one.
func LineLevel(stream, text string) string {
	if obj := jsonObject(text); obj != nil {
		if lv, ok := objectLevel(obj); ok {
			return lv
		}
	}
	lower := strings.ToLower(text)
	if lv, ok := ParseLevel(levelField(lower)); ok {
		return lv
	}
	if lv, ok := ParseLevel(firstLevelWord(lower)); ok {
		return lv
	}
	if stream == "stderr" {
		return "error"
	}
	return "info"
}

// jsonObject decodes text when it is a JSON object, else returns nil. Numbers
// stay json.Number so that ids past 2^53 are not rounded.
func jsonObject(text string) map[string]any {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil || dec.More() {
		return nil
	}
	return obj
}

var levelKeys = []string{"level", "lvl", "severity"}
var msgKeys = []string{"msg", "message"}

// objectLevel reads the level key of a JSON line.
func objectLevel(obj map[string]any) (string, bool) {
	for _, k := range levelKeys {
		switch v := obj[k].(type) {
		case string:
			if lv, ok := ParseLevel(v); ok {
				return lv, true
			}
		case json.Number:
			if n, err := strconv.Atoi(v.String()); err == nil && n >= 10 && n <= 60 {
				return ParseLevel(numericLevels[strconv.Itoa(n/10*10)])
			}
		}
	}
	return "", false
}

// enrichLine fills the level of a line stored without one and, for a JSON
// line, its message and other fields.
func enrichLine(l *runtime.LogLine) {
	obj := jsonObject(l.Text)
	if l.Level == "" {
		l.Level = LineLevel(l.Stream, l.Text)
	}
	if obj == nil {
		return
	}
	for _, k := range msgKeys {
		if s, ok := obj[k].(string); ok && l.Msg == "" {
			l.Msg = s
			delete(obj, k)
		}
	}
	for _, k := range levelKeys {
		if _, ok := obj[k]; ok {
			delete(obj, k)
			break
		}
	}
	if len(obj) > 0 {
		l.Fields = obj
	}
}

// storedLine is the record of l as written to disk: its level computed once,
// its message and fields left to be derived from the text when read.
func storedLine(l runtime.LogLine) runtime.LogLine {
	if l.Level == "" {
		l.Level = LineLevel(l.Stream, l.Text)
	}
	l.Msg, l.Fields = "", nil
	return l
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

// storedLevel reads the level of a raw stored record without decoding it: the
// level key comes before the text, so its first occurrence is the real one
// (inside the text a quote is escaped). "" when the record has none.
func storedLevel(rec []byte) string {
	const key = `"level":"`
	i := bytes.Index(rec, []byte(key))
	if i < 0 {
		return ""
	}
	if t := bytes.Index(rec, []byte(`"text":"`)); t >= 0 && t < i {
		return ""
	}
	v := rec[i+len(key):]
	end := bytes.IndexByte(v, '"')
	if end < 0 {
		return ""
	}
	return string(v[:end])
}
