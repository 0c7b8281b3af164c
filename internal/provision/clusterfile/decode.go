package clusterfile

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The decoder walks the YAML syntax tree and fills the Go types through their yaml
// tags, so the tags are the one list of accepted keys (the JSON Schema test checks
// the schema against them). Walking the tree instead of unmarshalling keeps the
// position of every key and value: decoding errors carry it, and so do the
// validation errors found afterwards, through the path of the setting.

// decoder holds what one Parse call needs.
type decoder struct {
	file    string
	anchors map[string]ast.Node
	// values and keys map a setting's path ("spec.pools[1].name") to the node of
	// its value and of its key, for validation errors.
	values map[string]ast.Node
	keys   map[string]ast.Node
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, anchors: map[string]ast.Node{}, values: map[string]ast.Node{}, keys: map[string]ast.Node{}}
}

// decodeFile parses data and stores what it holds into c, over c's defaults.
func (d *decoder) decodeFile(data []byte, c *Cluster) error {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return d.syntaxError(err)
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
			msg := fmt.Sprintf("%sexpected a list, not %s", label(path), describe(v))
			if isScalar(v) {
				msg += fmt.Sprintf("; write [%s]", nodeText(v))
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
			return d.errorf(n, "%sexpected a mapping such as {tier: app}, not %s", label(path), describe(v))
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
		if !isScalar(v) {
			return d.errorf(n, "%sexpected a text value, not %s", label(path), describe(v))
		}
		dst.SetString(nodeText(v))
		return nil
	case reflect.Int:
		i, err := strconv.Atoi(nodeText(v))
		if _, isInt := v.(*ast.IntegerNode); !isInt || err != nil {
			return d.errorf(n, "%sexpected a whole number, not %s", label(path), describe(v))
		}
		dst.SetInt(int64(i))
		return nil
	case reflect.Bool:
		b, ok := v.(*ast.BoolNode)
		if !ok {
			return d.errorf(n, "%sexpected true or false, not %s", label(path), describe(v))
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
		return d.errorf(n, "%sexpected %s, not %s", label(path), what, describe(v))
	}
	names := yamlNames(dst.Type())
	for _, e := range entries {
		key, err := d.key(e)
		if err != nil {
			return err
		}
		i := fieldIndex(dst.Type(), key)
		if i < 0 {
			return d.errorf(e.Key, "%s", unknownKey(key, path, names))
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
	if isScalar(k) {
		return nodeText(k), nil
	}
	return "", d.errorf(e.Key, "keys must be plain names such as \"name\", not %s", describe(e.Key))
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode,
		*ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

// nodeText returns a scalar as written, so that "version: 1.10" stays "1.10".
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
	case *ast.AliasNode:
		return "an alias"
	}
	return "a " + n.Type().String()
}

// errorf returns an *Error at the position of n.
func (d *decoder) errorf(n ast.Node, format string, args ...any) *Error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
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

var duplicateKey = regexp.MustCompile(`^mapping key "(.*)" already defined at \[(\d+):\d+\]$`)

// syntaxError turns a parser error into an *Error, rewording the messages people
// meet most often into advice.
func (d *decoder) syntaxError(err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &Error{File: d.file, Msg: "invalid YAML: " + err.Error()}
	}
	msg := ye.GetMessage()
	e := &Error{File: d.file, Msg: "invalid YAML: " + msg}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	switch {
	case strings.Contains(msg, "'\t'"): // the parser quotes the tab itself
		e.Msg = "tab character in indentation; YAML indents with spaces only"
	case msg == "mapping value is not allowed in this context":
		e.Msg = `a value cannot hold nested keys; check the indentation of the next line, and quote a value that contains ": "`
	case msg == "value is not allowed in this context":
		e.Msg = "unexpected indentation; align this line with the keys it belongs with"
	case strings.HasPrefix(msg, "sequence end token"):
		e.Msg = `this list has no closing "]"`
	case strings.HasPrefix(msg, "could not find flow mapping end token"):
		e.Msg = `this mapping has no closing "}"`
	default:
		if m := duplicateKey.FindStringSubmatch(msg); m != nil {
			e.Msg = fmt.Sprintf("%s is set twice (first on line %s); keep one", m[1], m[2])
		}
	}
	return e
}
