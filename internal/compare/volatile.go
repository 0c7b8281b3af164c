package compare

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Volatile values are those an application generates afresh for every answer:
// timestamps and ids. With Options.IgnoreVolatile a changed value is noise when
// BOTH sides have the same volatile shape, which needs no second live answer.
// The shapes, checked in this order:
//
//   - "time": an RFC 3339 timestamp (with or without fraction or zone),
//     "2006-01-02 15:04:05", or an HTTP date (RFC 1123).
//   - "uuid": 8-4-4-4-12 hex digits.
//   - "hex": at least 16 hex digits, both of the same length.
//   - "base64": at least 16 characters of the base64 or base64url alphabets
//     (which covers base62 and ULIDs), containing letters and digits, both of the
//     same length.
//   - "unix-s", "unix-ms": a number of seconds or milliseconds since 1970 within
//     30 days before or 1 day after Options.Now. Numbers elsewhere are data.
//
// Strings may carry a shared prefix ending in "_", "-", ":" or "/", as in
// "note_01HX..." or "urn:id:...": the part after it is checked.
//
// The price: a candidate that returns a different but well-formed id or
// timestamp is not caught by this heuristic. Turn it off where ids are the
// point of the answer, and rely on ignore paths and learned noise instead.
func sameVolatileShape(a, b any, now time.Time) bool {
	switch av := a.(type) {
	case string:
		bv, ok := b.(string)
		if !ok {
			return false
		}
		if s := stringShape(av); s != "" && s == stringShape(bv) {
			return true
		}
		p := sharedPrefix(av, bv)
		if p == 0 {
			return false
		}
		s := stringShape(av[p:])
		return s != "" && s == stringShape(bv[p:])
	case json.Number:
		bv, ok := b.(json.Number)
		if !ok {
			return false
		}
		s := unixShape(av, now)
		return s != "" && s == unixShape(bv, now)
	}
	return false
}

var timeLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", time.RFC1123, time.RFC1123Z,
}

// stringShape names the volatile shape of s, or returns "".
func stringShape(s string) string {
	if len(s) >= 19 && len(s) <= 40 {
		for _, layout := range timeLayouts {
			if _, err := time.Parse(layout, s); err == nil {
				return "time"
			}
		}
	}
	if isUUID(s) {
		return "uuid"
	}
	if len(s) < 16 {
		return ""
	}
	if isHex(s) {
		return "hex" + strconv.Itoa(len(s))
	}
	letters, digits := false, false
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			letters = true
		case c == '+' || c == '/' || c == '-' || c == '_' || c == '=':
		default:
			return ""
		}
	}
	if letters && digits {
		return "base64" + strconv.Itoa(len(s))
	}
	return ""
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !isHexDigit(c) {
			return false
		}
	}
	return s != ""
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// sharedPrefix returns the length of the longest common prefix of a and b that
// ends with a separator, or 0.
func sharedPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return strings.LastIndexAny(a[:n], "_-:/") + 1
}

// unixShape says whether n reads as a unix time near now, in seconds or millis.
func unixShape(n json.Number, now time.Time) string {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return ""
	}
	lo, hi := now.Add(-30*24*time.Hour), now.Add(24*time.Hour)
	switch {
	case f >= float64(lo.Unix()) && f <= float64(hi.Unix()):
		return "unix-s"
	case f >= float64(lo.UnixMilli()) && f <= float64(hi.UnixMilli()):
		return "unix-ms"
	}
	return ""
}
