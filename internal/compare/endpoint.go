package compare

import (
	"strings"
)

// IDSegment replaces the id-like segments of a path in an endpoint name.
const IDSegment = "{id}"

// Endpoint names the endpoint a request belongs to, so that answers to
// GET /api/notes/123 and GET /api/notes/9f1c... are counted together as
// GET /api/notes/{id}. The query string and fragment are dropped, the method is
// upper-cased, and a segment becomes {id} when it is
//
//   - all digits ("123"),
//   - a UUID,
//   - at least 8 hex digits with at least one digit ("9f1c2b3a", a git sha),
//   - at least 16 letters and digits mixing both (base62 ids, ULIDs), or
//   - a word followed by "_" or "-" and at least 6 letters and digits
//     including a digit ("note_01HX7...", "inv-000123"); "page-2" and "v2" stay.
//
// target may also be an absolute URL; only its path is used.
func Endpoint(method, target string) string {
	if i := strings.Index(target, "://"); i >= 0 {
		rest := target[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			target = rest[j:]
		} else {
			target = "/"
		}
	}
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if target == "" {
		target = "/"
	}
	segs := strings.Split(target, "/")
	for i, s := range segs {
		if isIDSegment(s) {
			segs[i] = IDSegment
		}
	}
	return strings.ToUpper(method) + " " + strings.Join(segs, "/")
}

func isIDSegment(s string) bool {
	if s == "" {
		return false
	}
	if isBareID(s) {
		return true
	}
	if i := strings.LastIndexAny(s, "_-"); i > 0 {
		suffix := s[i+1:]
		return len(suffix) >= 6 && strings.ContainsAny(suffix, "0123456789") && isAlnum(suffix)
	}
	return false
}

func isAlnum(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// isBareID applies the rules of Endpoint to a segment without a prefix.
func isBareID(s string) bool {
	if s == "" {
		return false
	}
	digits, letters, other := 0, 0, 0
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			letters++
		default:
			other++
		}
	}
	switch {
	case isUUID(s):
		return true
	case other > 0:
		return false
	case letters == 0:
		return true
	case len(s) >= 8 && digits > 0 && isHex(s):
		return true
	default:
		return len(s) >= 16 && digits > 0
	}
}
