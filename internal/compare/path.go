package compare

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A path is a list of segments from the root "$" of a JSON document. Paths are
// rendered as $.key, $["odd key"], $[3] and, once generalized or in a pattern,
// $[*]. The pattern language (for ignore paths) is a small subset of JSONPath,
// written by hand rather than taken from ohler55/ojg: Diff needs to ask "is
// this node ignored?" at every node of a walk it already performs, which a
// query engine that selects nodes from a document does not answer directly, and
// the subset below is all prosper.yaml needs.
//
//	$.now            a key of the root object
//	$.items[*].id    any element of an array (or any member of an object)
//	$.items[0]       one element
//	$.*              any member
//	$["a.b"]         a key that is not an identifier ('single quotes' too)
//	$..request_id    recursive descent: the key at any depth
type segKind uint8

const (
	segKey segKind = iota
	segIndex
	segWild
)

type segment struct {
	kind  segKind
	key   string
	index int
	// descend is set on pattern segments preceded by "..": they match at any
	// depth below the previous segment.
	descend bool
}

// errPath is wrapped by every path syntax error.
var errPath = errors.New("invalid path")

// renderPath writes segments in the notation parsePath reads back.
func renderPath(segs []segment) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range segs {
		if s.descend {
			b.WriteString("..")
		}
		switch s.kind {
		case segKey:
			if isIdentifier(s.key) {
				if !s.descend {
					b.WriteByte('.')
				}
				b.WriteString(s.key)
			} else {
				b.WriteString("[" + strconv.Quote(s.key) + "]")
			}
		case segIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case segWild:
			b.WriteString("[*]")
		}
	}
	return b.String()
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// parsePath reads a concrete path, a generalized path or a pattern.
func parsePath(s string) ([]segment, error) {
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("%w %q: must start with $", errPath, s)
	}
	var segs []segment
	for i := 1; i < len(s); {
		var seg segment
		switch {
		case strings.HasPrefix(s[i:], ".."):
			seg.descend = true
			i += 2
		case s[i] == '.':
			i++
		case s[i] == '[':
		default:
			return nil, fmt.Errorf("%w %q: unexpected %q at %d", errPath, s, s[i], i)
		}
		switch {
		case i >= len(s):
			return nil, fmt.Errorf("%w %q: ends after a dot", errPath, s)
		case s[i] == '[':
			n, err := parseBracket(s[i:], &seg)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %v", errPath, s, err)
			}
			i += n
		case s[i] == '*':
			seg.kind = segWild
			i++
		default:
			end := i
			for end < len(s) && s[end] != '.' && s[end] != '[' {
				end++
			}
			if end == i {
				return nil, fmt.Errorf("%w %q: empty key at %d", errPath, s, i)
			}
			seg.key = s[i:end]
			i = end
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// parseBracket reads [*], [3], ["key"] or ['key'] at the start of s and
// returns its length.
func parseBracket(s string, seg *segment) (int, error) {
	switch {
	case strings.HasPrefix(s, "[*]"):
		seg.kind = segWild
		return 3, nil
	case strings.HasPrefix(s, `["`):
		q, err := strconv.QuotedPrefix(s[1:])
		if err != nil || !strings.HasPrefix(s[1+len(q):], "]") {
			return 0, errors.New("unterminated quoted key")
		}
		seg.key, _ = strconv.Unquote(q)
		return len(q) + 2, nil
	case strings.HasPrefix(s, "['"):
		end := strings.Index(s[2:], "']")
		if end < 0 {
			return 0, errors.New("unterminated quoted key")
		}
		seg.key = s[2 : 2+end]
		return end + 4, nil
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, errors.New("unterminated bracket")
	}
	n, err := strconv.Atoi(s[1:end])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad index %q", s[1:end])
	}
	seg.kind, seg.index = segIndex, n
	return end + 1, nil
}

// Generalize replaces the array indexes of a concrete path by [*], so that
// $.items[3].id and $.items[7].id count as one place: $.items[*].id. Paths that
// are not JSON paths ("status", "header:Location", "body") are returned as is.
func Generalize(path string) string {
	if !strings.HasPrefix(path, "$") || !strings.Contains(path, "[") {
		return path
	}
	segs, err := parsePath(path)
	if err != nil {
		return path
	}
	for i := range segs {
		if segs[i].kind == segIndex {
			segs[i] = segment{kind: segWild}
		}
	}
	return renderPath(segs)
}

// matchPattern reports whether the pattern matches the whole path.
func matchPattern(pattern, path []segment) bool {
	if len(pattern) == 0 {
		return len(path) == 0
	}
	p := pattern[0]
	if p.descend {
		for i := range path {
			if segMatches(p, path[i]) && matchPattern(pattern[1:], path[i+1:]) {
				return true
			}
		}
		return false
	}
	return len(path) > 0 && segMatches(p, path[0]) && matchPattern(pattern[1:], path[1:])
}

func segMatches(p, s segment) bool {
	switch p.kind {
	case segWild:
		return true
	case segKey:
		return s.kind == segKey && s.key == p.key
	default:
		return s.kind == segIndex && s.index == p.index
	}
}
