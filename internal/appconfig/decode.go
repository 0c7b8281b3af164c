package appconfig

import (
	"fmt"
	"slices"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// The decoder walks the YAML syntax tree itself instead of unmarshalling into
// structs: that way every error carries the position of the offending key or value
// and is worded for the person editing prosper.yaml, not in terms of Go types.

// decoder holds what one Parse call needs while walking the tree.
type decoder struct {
	file    string
	anchors yamlfile.Anchors // anchors seen so far, for aliases
}

// field is one known key of a mapping and how to store its value into a T.
type field[T any] struct {
	name   string
	decode func(d *decoder, v ast.Node, dst *T) error
}

func decode(filename string, data []byte, cfg *Config) error {
	d := &decoder{file: filename, anchors: yamlfile.Anchors{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return yamlfile.SyntaxError(d.file, data, err)
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
			return d.errorf(e.Key, "%s", yamlfile.UnknownKey("field", key, where, names))
		}
		if err := fields[i].decode(d, e.Value, dst); err != nil {
			return err
		}
	}
	return nil
}

// errorf returns an *Error at the position of n.
func (d *decoder) errorf(n ast.Node, format string, args ...any) *Error {
	return yamlfile.At(d.file, n, format, args...)
}

// resolve looks through tags, anchors and aliases to the node holding the value,
// and returns nil for an explicit or implicit null ("key:" with nothing after it).
func (d *decoder) resolve(n ast.Node) (ast.Node, error) {
	v, missing := d.anchors.Resolve(n)
	if missing != nil {
		name := yamlfile.Text(missing.Value)
		return nil, d.errorf(missing, "alias *%s refers to no anchor &%s defined before it", name, name)
	}
	return v, nil
}

// key returns the name of a mapping entry's key.
func (d *decoder) key(e *ast.MappingValueNode) (string, error) {
	k, err := d.resolve(e.Key)
	if err != nil {
		return "", err
	}
	switch k.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return yamlfile.Text(k), nil
	}
	return "", d.errorf(e.Key, "keys must be plain names such as \"build\", not %s", yamlfile.Describe(e.Key))
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
	return nil, d.errorf(n, "%sexpected %s, not %s", label(name), what, yamlfile.Describe(v))
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
	msg := fmt.Sprintf("%sexpected %s, not %s", label(name), what, yamlfile.Describe(v))
	if yamlfile.IsScalar(v) {
		msg += fmt.Sprintf("; write [%s]", yamlfile.Text(v))
	}
	return nil, d.errorf(n, "%s", msg)
}

// scalar returns the text of a scalar value as written; null gives "" and false.
func (d *decoder) scalar(n ast.Node, name, what string) (string, bool, error) {
	v, err := d.resolve(n)
	if v == nil {
		return "", false, err
	}
	if !yamlfile.IsScalar(v) {
		return "", false, d.errorf(n, "%sexpected %s, not %s", label(name), what, yamlfile.Describe(v))
	}
	return yamlfile.Text(v), true, nil
}
