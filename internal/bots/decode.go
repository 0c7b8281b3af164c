package bots

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// The decoder walks the YAML syntax tree rather than unmarshalling into structs, so
// that every error points at the key or value at fault and speaks of what the user
// wrote ("every: expected a duration"), never of Go types.

// decoder holds the state of one Parse call.
type decoder struct {
	file    string
	anchors map[string]ast.Node
}

// errAt returns an *Error placed at n. A mapping is placed at its first key, where
// the reader's eye goes, rather than at its first ":" where the parser puts it.
func (d *decoder) errAt(n ast.Node, format string, args ...any) *Error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
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

// line returns the line n starts on, as errAt places it.
func (d *decoder) line(n ast.Node) int {
	return d.errAt(n, "").Line
}

// resolve looks through tags, anchors and aliases to the node holding a value; it
// returns nil for null, written or implied ("key:" with nothing after).
func (d *decoder) resolve(n ast.Node) (ast.Node, error) {
	for {
		switch v := n.(type) {
		case nil, *ast.NullNode:
			return nil, nil
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			d.anchors[scalarText(v.Name)] = v.Value
			n = v.Value
		case *ast.AliasNode:
			name := scalarText(v.Value)
			target, ok := d.anchors[name]
			if !ok {
				return nil, d.errAt(v, "*%s refers to no &%s defined above it", name, name)
			}
			n = target
		default:
			return n, nil
		}
	}
}

// entries returns the entries of a mapping; null gives none.
func (d *decoder) entries(n ast.Node, name, what string) ([]*ast.MappingValueNode, error) {
	v, err := d.resolve(n)
	switch m := v.(type) {
	case nil:
		return nil, err
	case *ast.MappingNode:
		return m.Values, nil
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, nil
	}
	return nil, d.errAt(n, "%sexpected %s, not %s", label(name), what, describe(v))
}

// label prefixes a message with the setting it is about, when there is one.
func label(name string) string {
	if name == "" {
		return ""
	}
	return name + ": "
}

// items returns the items of a list; null gives none.
func (d *decoder) items(n ast.Node, name, what string) ([]ast.Node, error) {
	v, err := d.resolve(n)
	switch s := v.(type) {
	case nil:
		return nil, err
	case *ast.SequenceNode:
		return s.Values, nil
	}
	return nil, d.errAt(n, "%s: expected %s, not %s", name, what, describe(v))
}

// scalar returns the text of a scalar value as written (so "1.10" stays "1.10");
// null gives "" and false.
func (d *decoder) scalar(n ast.Node, name, what string) (string, bool, error) {
	v, err := d.resolve(n)
	if v == nil {
		return "", false, err
	}
	if !isScalar(v) {
		return "", false, d.errAt(n, "%s: expected %s, not %s", name, what, describe(v))
	}
	return scalarText(v), true, nil
}

// required is scalar for a setting that cannot be left empty.
func (d *decoder) required(e *ast.MappingValueNode, name, what string) (string, error) {
	s, ok, err := d.scalar(e.Value, name, what)
	if err == nil && !ok {
		err = d.errAt(e.Key, "%s: no value; write %s", name, what)
	}
	return s, err
}

// key returns the name of a mapping entry's key.
func (d *decoder) key(e *ast.MappingValueNode) (string, error) {
	k, err := d.resolve(e.Key)
	if err != nil {
		return "", err
	}
	if k == nil || !isScalar(k) {
		return "", d.errAt(e.Key, "a key must be a plain name such as \"steps\", not %s", describe(k))
	}
	return scalarText(k), nil
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode,
		*ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// scalarText returns a scalar as the user wrote it.
func scalarText(n ast.Node) string {
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

// describe names what a node is, in YAML terms.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + scalarText(v)
	case *ast.BoolNode:
		return scalarText(v)
	case *ast.StringNode, *ast.LiteralNode:
		return fmt.Sprintf("the text %q", scalarText(v))
	case *ast.TagNode:
		return describe(v.Value)
	case *ast.AnchorNode:
		return describe(v.Value)
	case *ast.MergeKeyNode:
		return "a merge key (<<)"
	}
	return "a " + n.Type().String()
}

// parseDuration reads a Go duration and explains the bare number, which YAML users
// expect to mean seconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if plainNumber.MatchString(s) {
		return 0, fmt.Errorf("%q has no unit; write %ss for seconds or %sms for milliseconds", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write it like 500ms, 2s or 1m30s", s)
	}
	return v, nil
}

var plainNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):\d+\]$`)

// syntaxError turns a YAML parser error into an *Error, in words that say what to
// change for the mistakes people make most.
func (d *decoder) syntaxError(data []byte, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: d.file, Msg: "not valid YAML: " + err.Error()}
	}
	msg := ye.GetMessage()
	e := &Error{File: d.file, Msg: "not valid YAML: " + msg}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	switch {
	case strings.Contains(msg, `'\t'`) || tabIndented(data, e.Line):
		e.Msg = "a tab in the indentation; YAML indents with spaces only"
	case msg == "mapping value is not allowed in this context":
		e.Msg = `a value cannot hold nested keys; check the indentation, and quote a value holding ": "`
	case msg == "value is not allowed in this context":
		e.Msg = "unexpected indentation; align this line with the keys it belongs with"
	case strings.HasPrefix(msg, "could not find flow map content"),
		msg == "found an invalid key for this map",
		strings.HasPrefix(msg, "could not find flow mapping end token"):
		e.Msg = `this {...} mapping does not close; quote keys and values that hold [ ] { } or a comma, such as "$.items[0].id"`
	case strings.HasPrefix(msg, "sequence end token"):
		e.Msg = `this list has no closing "]"`
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
