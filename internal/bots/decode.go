package bots

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// The decoder walks the YAML syntax tree rather than unmarshalling into structs, so
// that every error points at the key or value at fault and speaks of what the user
// wrote ("every: expected a duration"), never of Go types.

// decoder holds the state of one Parse call.
type decoder struct {
	file    string
	anchors yamlfile.Anchors
}

// errAt returns an *Error placed at n. A mapping is placed at its first key, where
// the reader's eye goes, rather than at its first ":" where the parser puts it.
func (d *decoder) errAt(n ast.Node, format string, args ...any) *Error {
	return yamlfile.At(d.file, n, format, args...)
}

// line returns the line n starts on, as errAt places it.
func (d *decoder) line(n ast.Node) int {
	return d.errAt(n, "").Line
}

// resolve looks through tags, anchors and aliases to the node holding a value; it
// returns nil for null, written or implied ("key:" with nothing after).
func (d *decoder) resolve(n ast.Node) (ast.Node, error) {
	v, missing := d.anchors.Resolve(n)
	if missing != nil {
		name := yamlfile.Text(missing.Value)
		return nil, d.errAt(missing, "*%s refers to no &%s defined above it", name, name)
	}
	return v, nil
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
	return nil, d.errAt(n, "%sexpected %s, not %s", label(name), what, yamlfile.Describe(v))
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
	return nil, d.errAt(n, "%s: expected %s, not %s", name, what, yamlfile.Describe(v))
}

// scalar returns the text of a scalar value as written (so "1.10" stays "1.10");
// null gives "" and false.
func (d *decoder) scalar(n ast.Node, name, what string) (string, bool, error) {
	v, err := d.resolve(n)
	if v == nil {
		return "", false, err
	}
	if !yamlfile.IsScalar(v) {
		return "", false, d.errAt(n, "%s: expected %s, not %s", name, what, yamlfile.Describe(v))
	}
	return yamlfile.Text(v), true, nil
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
	if k == nil || !yamlfile.IsScalar(k) {
		return "", d.errAt(e.Key, "a key must be a plain name such as \"steps\", not %s", yamlfile.Describe(k))
	}
	return yamlfile.Text(k), nil
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
