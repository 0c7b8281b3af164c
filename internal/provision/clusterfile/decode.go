package clusterfile

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// The decoder walks the YAML syntax tree and fills the Go types through their yaml
// tags, so the tags are the one list of accepted keys (the JSON Schema test checks
// the schema against them). Walking the tree instead of unmarshalling keeps the
// position of every key and value: decoding errors carry it, and so do the
// validation errors found afterwards, through the path of the setting.

// decoder holds what one Parse call needs.
type decoder struct {
	file    string
	anchors yamlfile.Anchors
	// values and keys map a setting's path ("spec.pools[1].name") to the node of
	// its value and of its key, for validation errors.
	values map[string]ast.Node
	keys   map[string]ast.Node
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, anchors: yamlfile.Anchors{}, values: map[string]ast.Node{}, keys: map[string]ast.Node{}}
}

// decodeFile parses data and stores what it holds into c, over c's defaults.
func (d *decoder) decodeFile(data []byte, c *Cluster) error {
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
			return d.errorf(doc.Body, "the file holds more than one YAML document; describe one cluster per file")
		}
		body = doc.Body
	}
	if body == nil {
		return &Error{File: d.file, Line: 1, Column: 1, Msg: "the file is empty; start it with \"apiVersion: " + APIVersion + "\""}
	}
	return d.decode(body, "", reflect.ValueOf(c).Elem())
}

// decode stores the value node n into dst, whose type decides what n may be.
func (d *decoder) decode(n ast.Node, path string, dst reflect.Value) error {
	v, err := d.resolve(n)
	if err != nil {
		return err
	}
	d.values[path] = n
	if dst.Kind() == reflect.Pointer {
		// A pointer marks an optional section: naming it, even with nothing
		// under it ("hetzner:"), selects it with its defaults.
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		dst = dst.Elem()
	}
	if v == nil {
		return nil // "key:" with no value keeps the default
	}
	switch dst.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, path, dst)
	case reflect.Slice:
		seq, ok := v.(*ast.SequenceNode)
		if !ok {
			msg := fmt.Sprintf("%sexpected a list, not %s", label(path), yamlfile.Describe(v))
			if yamlfile.IsScalar(v) {
				msg += fmt.Sprintf("; write [%s]", yamlfile.Text(v))
			}
			return d.errorf(n, "%s", msg)
		}
		list := reflect.MakeSlice(dst.Type(), len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			if err := d.decode(item, fmt.Sprintf("%s[%d]", path, i), list.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(list)
		return nil
	case reflect.Map:
		entries, ok := mappingEntries(v)
		if !ok {
			return d.errorf(n, "%sexpected a mapping such as {tier: app}, not %s", label(path), yamlfile.Describe(v))
		}
		m := reflect.MakeMapWithSize(dst.Type(), len(entries))
		for _, e := range entries {
			key, err := d.key(e)
			if err != nil {
				return err
			}
			elem := reflect.New(dst.Type().Elem()).Elem()
			if err := d.decode(e.Value, path+"."+key, elem); err != nil {
				return err
			}
			d.keys[path+"."+key] = e.Key
			m.SetMapIndex(reflect.ValueOf(key), elem)
		}
		dst.Set(m)
		return nil
	case reflect.String:
		if !yamlfile.IsScalar(v) {
			return d.errorf(n, "%sexpected a text value, not %s", label(path), yamlfile.Describe(v))
		}
		dst.SetString(yamlfile.Text(v))
		return nil
	case reflect.Int:
		i, err := strconv.Atoi(yamlfile.Text(v))
		if _, isInt := v.(*ast.IntegerNode); !isInt || err != nil {
			return d.errorf(n, "%sexpected a whole number, not %s", label(path), yamlfile.Describe(v))
		}
		dst.SetInt(int64(i))
		return nil
	case reflect.Bool:
		b, ok := v.(*ast.BoolNode)
		if !ok {
			return d.errorf(n, "%sexpected true or false, not %s", label(path), yamlfile.Describe(v))
		}
		dst.SetBool(b.Value)
		return nil
	}
	return fmt.Errorf("clusterfile: no decoding for %s", dst.Type()) // a programming error
}

// decodeStruct stores a mapping's entries into the fields of dst by yaml tag.
func (d *decoder) decodeStruct(n, v ast.Node, path string, dst reflect.Value) error {
	entries, ok := mappingEntries(v)
	if !ok {
		what := "a mapping"
		if names := yamlNames(dst.Type()); len(names) > 0 {
			what = fmt.Sprintf("a mapping with %s", strings.Join(names, ", "))
		}
		return d.errorf(n, "%sexpected %s, not %s", label(path), what, yamlfile.Describe(v))
	}
	names := yamlNames(dst.Type())
	for _, e := range entries {
		key, err := d.key(e)
		if err != nil {
			return err
		}
		i := fieldIndex(dst.Type(), key)
		if i < 0 {
			return d.errorf(e.Key, "%s", yamlfile.UnknownKey("field", key, path, names))
		}
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		d.keys[sub] = e.Key
		if err := d.decode(e.Value, sub, dst.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// yamlNames lists the keys a struct type accepts, in declaration order.
func yamlNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		if name := yamlName(f); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// yamlName is the key of a struct field, "" for a field that is not read from YAML.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == key {
			return i
		}
	}
	return -1
}

func mappingEntries(v ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := v.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

// label prefixes a message with the path of the setting it is about.
func label(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// resolve looks through tags, anchors and aliases to the node holding the value and
// returns nil for an explicit or implicit null.
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
	if yamlfile.IsScalar(k) {
		return yamlfile.Text(k), nil
	}
	return "", d.errorf(e.Key, "keys must be plain names such as \"name\", not %s", yamlfile.Describe(e.Key))
}

// errorf returns an *Error at the position of n.
func (d *decoder) errorf(n ast.Node, format string, args ...any) *Error {
	return yamlfile.At(d.file, n, format, args...)
}
