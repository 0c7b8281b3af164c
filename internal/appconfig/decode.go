package appconfig

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The decoder walks the YAML syntax tree itself instead of unmarshalling into
// structs: that way every error carries the position of the offending key or value
// and is worded for the person editing prosper.yaml, not in terms of Go types.

// decoder holds what one Parse call needs while walking the tree.
type decoder struct {
	file    string
	anchors map[string]ast.Node // anchors seen so far, for aliases
}

// field is one known key of a mapping and how to store its value into a T.
type field[T any] struct {
	name   string
	decode func(d *decoder, v ast.Node, dst *T) error
}

func decode(filename string, data []byte, cfg *Config) error {
	d := &decoder{file: filename, anchors: map[string]ast.Node{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return d.syntaxError(data, err)
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			return d.errorf(doc.Body, "the file holds more than one YAML document; keep one (remove the \"---\" line)")
		}
		body = doc.Body
	}
	if body == nil {
		return nil // empty or comments only: defaults
	}
	entries, err := d.mapping(body, "", `a mapping of settings such as "build: make"`)
	if err != nil {
		return err
	}
	return decodeFields(d, entries, "", configFields, cfg)
}

// decodeFields stores each entry of a mapping through the field of the same name.
// where is the dotted path of the mapping ("" at the top, "verify") for messages.
func decodeFields[T any](d *decoder, entries []*ast.MappingValueNode, where string, fields []field[T], dst *T) error {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	for _, e := range entries {
		key, err := d.key(e)
		if err != nil {
			return err
		}
		i := slices.Index(names, key)
		if i < 0 {
			return d.errorf(e.Key, "%s", unknownField("field", key, where, names))
		}
		if err := fields[i].decode(d, e.Value, dst); err != nil {
			return err
		}
	}
	return nil
}

// errorf returns an *Error at the position of n.
func (d *decoder) errorf(n ast.Node, format string, args ...any) *Error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	// A block mapping's own token is the ":" of its first entry; its first key is
	// where a reader looks.
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

// resolve looks through tags, anchors and aliases to the node holding the value,
// and returns nil for an explicit or implicit null ("key:" with nothing after it).
func (d *decoder) resolve(n ast.Node) (ast.Node, error) {
	for {
		switch v := n.(type) {
		case nil, *ast.NullNode:
			return nil, nil
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			d.anchors[nodeText(v.Name)] = v.Value
			n = v.Value
		case *ast.AliasNode:
			name := nodeText(v.Value)
			target, ok := d.anchors[name]
			if !ok {
				return nil, d.errorf(v, "alias *%s refers to no anchor &%s defined before it", name, name)
			}
			n = target
		default:
			return n, nil
		}
	}
}

// key returns the name of a mapping entry's key.
func (d *decoder) key(e *ast.MappingValueNode) (string, error) {
	k, err := d.resolve(e.Key)
	if err != nil {
		return "", err
	}
	switch k.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return nodeText(k), nil
	}
	return "", d.errorf(e.Key, "keys must be plain names such as \"build\", not %s", describe(e.Key))
}

// mapping returns the entries of a mapping value; null gives none.
func (d *decoder) mapping(n ast.Node, name, what string) ([]*ast.MappingValueNode, error) {
	v, err := d.resolve(n)
	switch m := v.(type) {
	case nil:
		return nil, err
	case *ast.MappingNode:
		return m.Values, nil
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, nil
	}
	return nil, d.errorf(n, "%sexpected %s, not %s", label(name), what, describe(v))
}

// label prefixes a message with the setting it is about.
func label(name string) string {
	if name == "" {
		return ""
	}
	return name + ": "
}

// list returns the items of a sequence value; null gives nil.
func (d *decoder) list(n ast.Node, name, what string) ([]ast.Node, error) {
	v, err := d.resolve(n)
	switch s := v.(type) {
	case nil:
		return nil, err
	case *ast.SequenceNode:
		// Non-nil even when empty, so callers can tell "[]" from null.
		return append([]ast.Node{}, s.Values...), nil
	}
	msg := fmt.Sprintf("%sexpected %s, not %s", label(name), what, describe(v))
	if isScalar(v) {
		msg += fmt.Sprintf("; write [%s]", nodeText(v))
	}
	return nil, d.errorf(n, "%s", msg)
}

// scalar returns the text of a scalar value as written; null gives "" and false.
func (d *decoder) scalar(n ast.Node, name, what string) (string, bool, error) {
	v, err := d.resolve(n)
	if v == nil {
		return "", false, err
	}
	if !isScalar(v) {
		return "", false, d.errorf(n, "%sexpected %s, not %s", label(name), what, describe(v))
	}
	return nodeText(v), true, nil
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode,
		*ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// nodeText returns a scalar's value as the user wrote it, so that "version: 1.10"
// stays "1.10" instead of becoming the float 1.1.
func nodeText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case nil:
		return ""
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}

// describe names the kind of a node the way a YAML user thinks of it.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "empty"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + nodeText(v)
	case *ast.BoolNode:
		return nodeText(v)
	case *ast.StringNode, *ast.LiteralNode:
		return fmt.Sprintf("the text %q", nodeText(v))
	case *ast.TagNode:
		return describe(v.Value)
	case *ast.AnchorNode:
		return describe(v.Value)
	case *ast.MappingKeyNode:
		return `an explicit "?" key`
	case *ast.MergeKeyNode:
		return "a merge key (<<)"
	}
	return "a " + n.Type().String()
}

var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):\d+\]$`)

// syntaxError turns a parser error into an *Error, rewording the messages users
// meet most often (tabs, indentation, duplicate keys) into advice.
func (d *decoder) syntaxError(data []byte, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: d.file, Msg: "invalid YAML: " + err.Error()}
	}
	e := &Error{File: d.file, Msg: ye.GetMessage()}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	msg := ye.GetMessage()
	switch {
	case strings.Contains(msg, `'\t'`) || hasIndentTab(data, e.Line):
		e.Msg = "tab character in indentation; YAML indents with spaces only"
	case msg == "mapping value is not allowed in this context":
		e.Msg = `a value cannot hold nested keys; check the indentation of the next line, and quote a value that contains ": "`
	case msg == "value is not allowed in this context":
		e.Msg = "unexpected indentation; align this line with the keys it belongs with"
	case strings.HasPrefix(msg, "sequence end token"):
		e.Msg = `this list has no closing "]"`
	case strings.HasPrefix(msg, "could not find flow mapping end token"):
		e.Msg = `this mapping has no closing "}"`
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

// hasIndentTab reports whether the given 1-based line starts with whitespace that
// holds a tab; the parser's own message for that case varies with the context.
func hasIndentTab(data []byte, line int) bool {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return false
	}
	l := lines[line-1]
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	return strings.Contains(indent, "\t")
}
