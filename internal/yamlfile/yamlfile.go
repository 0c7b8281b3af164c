// Package yamlfile holds what prosper's readers of YAML files share: the error
// that names FILE:LINE:COL, the wording of unknown keys with a suggestion for a
// typo, the words for a node's kind and the advice for YAML syntax errors. The
// readers (prosper.yaml, bot scenarios, cluster files) walk goccy/go-yaml's
// syntax tree themselves; this keeps their messages alike.
package yamlfile

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Error is a problem found in a file. It always says where the problem is, so a
// user can jump to it, and when possible what to write instead.
type Error struct {
	File   string // the file name as the user knows it, e.g. "prosper.yaml"
	Line   int    // 1-based; 0 when the problem is not tied to a line
	Column int    // 1-based; 0 when only the line is known
	Msg    string // what is wrong and, when it can be said, what to do
}

// Error formats the problem like a compiler does: "prosper.yaml:3:1: unknown
// field ...".
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

// At returns an *Error at the position of n (n may be nil); a mapping is
// placed at its first key, where the reader's eye goes.
func At(file string, n ast.Node, format string, args ...any) *Error {
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...)}
	// A block mapping's own token is the ":" of its first entry; its first key
	// is where a reader looks.
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 && !m.IsFlowStyle {
			n = m.Values[0].Key
		}
	case *ast.MappingValueNode:
		n = m.Key
	}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

// UnknownKey words the error for a key that is not a known one ("field", "key",
// "gate"...): a suggestion when it looks like a typo of a known one, the whole
// list otherwise. where, when set, names the enclosing section.
func UnknownKey(noun, key, where string, known []string) string {
	msg := fmt.Sprintf("unknown %s %q", noun, key)
	if where != "" {
		msg += " in " + where
	}
	if s := Closest(key, known); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + fmt.Sprintf("; known %ss are %s", noun, strings.Join(known, ", "))
}

// Closest returns the known name nearest to key when it is near enough to be a
// typo, "" otherwise. Case, "-" and "_" are not counted: "server_type" is
// "serverType", "Health-Timeout" is "health_timeout".
func Closest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	}
	k := norm(key)
	best, bestDist := "", -1
	for _, name := range known {
		// One edit for short names, two for longer ones: beyond that most short
		// names turn into one another, and a wrong guess misleads more than none.
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
// substitution or a swap of neighbours costs one, so "buidl" is one edit from
// "build".
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

// IsScalar reports whether n is a single value rather than a list or mapping.
func IsScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode,
		*ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// Text returns a scalar's value as the user wrote it, so that "version: 1.10"
// stays "1.10" instead of becoming the float 1.1.
func Text(n ast.Node) string {
	switch v := n.(type) {
	case nil:
		return ""
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}

// Describe names the kind of a node the way a YAML user thinks of it.
func Describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "empty"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + Text(v)
	case *ast.BoolNode:
		return Text(v)
	case *ast.StringNode, *ast.LiteralNode:
		return fmt.Sprintf("the text %q", Text(v))
	case *ast.TagNode:
		return Describe(v.Value)
	case *ast.AnchorNode:
		return Describe(v.Value)
	case *ast.AliasNode:
		return "an alias"
	case *ast.MappingKeyNode:
		return `an explicit "?" key`
	case *ast.MergeKeyNode:
		return "a merge key (<<)"
	}
	return "a " + n.Type().String()
}

var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):\d+\]$`)

// SyntaxError turns a parser error on data into an *Error, rewording the
// messages users meet most often (tabs, indentation, duplicate keys, unclosed
// brackets and quotes) into advice.
func SyntaxError(file string, data []byte, err error) *Error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: file, Msg: "invalid YAML: " + err.Error()}
	}
	msg := ye.GetMessage()
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	switch {
	case strings.Contains(msg, `'\t'`) || tabIndented(data, e.Line):
		e.Msg = "tab character in indentation; YAML indents with spaces only"
	case msg == "mapping value is not allowed in this context":
		e.Msg = `a value cannot hold nested keys; check the indentation of the next line, and quote a value that contains ": "`
	case msg == "value is not allowed in this context":
		e.Msg = "unexpected indentation; align this line with the keys it belongs with"
	case strings.HasPrefix(msg, "sequence end token"):
		e.Msg = `this list has no closing "]"`
	case strings.HasPrefix(msg, "could not find flow map content"),
		strings.HasPrefix(msg, "could not find flow mapping end token"):
		e.Msg = `this {...} mapping does not close; quote keys and values that hold [ ] { } or a comma, such as "$.items[0].id"`
	case strings.HasPrefix(msg, "could not find end character of single-quoted text"):
		e.Msg = "this text has no closing single quote"
	case strings.HasPrefix(msg, "could not find end character of double-quoted text"):
		e.Msg = "this text has no closing double quote"
	default:
		if m := duplicateKey.FindStringSubmatch(msg); m != nil {
			e.Msg = fmt.Sprintf("%s is set twice (first on line %s); keep one", m[1], m[2])
		}
	}
	return e
}

// tabIndented reports whether the 1-based line is indented with a tab; the
// parser's own message for that varies with where it happens.
func tabIndented(data []byte, line int) bool {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	return strings.Contains(l[:len(l)-len(strings.TrimLeft(l, " \t"))], "\t")
}

// Anchors are the anchors of one file met so far, so that an alias resolves to
// the node its anchor names. A reader keeps one per file.
type Anchors map[string]ast.Node

// Resolve looks through tags, anchors and aliases to the node holding a
// value, and returns nil for null, written or implied ("key:" with nothing
// after it). An alias to no anchor defined before it comes back as missing,
// for the reader to report in its own words.
func (a Anchors) Resolve(n ast.Node) (value ast.Node, missing *ast.AliasNode) {
	for {
		switch v := n.(type) {
		case nil, *ast.NullNode:
			return nil, nil
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			a[Text(v.Name)] = v.Value
			n = v.Value
		case *ast.AliasNode:
			target, ok := a[Text(v.Value)]
			if !ok {
				return nil, v
			}
			n = target
		default:
			return n, nil
		}
	}
}
