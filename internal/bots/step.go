package bots

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/ohler55/ojg/jp"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// methods are the request keys of a step, as written in a file.
var methods = []string{"get", "post", "put", "patch", "delete", "head"}

var (
	stepKeys   = append(slices.Clone(methods), "name", "json", "body", "headers", "expect", "save")
	expectKeys = []string{"status", "json", "body_contains", "max_latency"}
)

// step reads steps[i].
func (p *scenarioParser) step(i int, n ast.Node) (Step, error) {
	d := p.d
	where := fmt.Sprintf("step %d", i+1)
	entries, err := d.entries(n, where, `a mapping such as "get: /"`)
	if err != nil {
		return Step{}, err
	}
	if len(entries) == 0 {
		return Step{}, d.errAt(n, `%s is empty; write a request such as "get: /"`, where)
	}
	st := Step{Line: d.line(entries[0].Key)}
	var method, bodyKey *ast.MappingValueNode
	for _, e := range entries {
		k, err := d.key(e)
		if err != nil {
			return Step{}, err
		}
		switch {
		case slices.Contains(methods, k):
			if method != nil {
				return Step{}, d.errAt(e.Key, "%s already sends a %s request; a step sends one, so make %s: a step of its own",
					where, strings.ToUpper(yamlfile.Text(method.Key)), k)
			}
			method = e
			st.Method = strings.ToUpper(k)
			if st.Path, err = p.path(e, i); err != nil {
				return Step{}, err
			}
		case k == "name":
			s, err := d.required(e, "name", "a step name such as \"read it back\"")
			if err != nil {
				return Step{}, err
			}
			if st.Name = strings.TrimSpace(s); st.Name == "" || strings.ContainsFunc(st.Name, isControl) {
				return Step{}, d.errAt(e.Value, "name: write a step name on one line")
			}
		case k == "json" || k == "body":
			if bodyKey != nil {
				return Step{}, d.errAt(e.Key, "%s has both json and body; keep one (json sends JSON, body sends text as written)", where)
			}
			bodyKey = e
			if st.Body, err = p.body(e, k, i); err != nil {
				return Step{}, err
			}
			st.JSON = k == "json"
		case k == "headers":
			if st.Header, err = p.headers(e, i); err != nil {
				return Step{}, err
			}
		case k == "expect":
			if st.Expect, err = p.expect(e); err != nil {
				return Step{}, err
			}
		case k == "save":
			if st.Save, err = p.save(e, i); err != nil {
				return Step{}, err
			}
		default:
			return Step{}, d.errAt(e.Key, "%s", yamlfile.UnknownKey("key", k, where, stepKeys))
		}
	}
	if method == nil {
		return Step{}, d.errAt(n, "%s sends no request; add one of %s with the path, such as \"get: /\"", where, strings.Join(methods, ", "))
	}
	if st.Name == "" {
		st.Name = st.Method + " " + st.Path
	}
	return st, nil
}

// path reads the path of a request: bots reach the app through prosper's router, so
// a step names only the path, never a host.
func (p *scenarioParser) path(e *ast.MappingValueNode, step int) (string, error) {
	k := yamlfile.Text(e.Key)
	s, err := p.d.required(e, k, "the path to request, such as /api/bookings")
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		return "", p.d.errAt(e.Value, "%s: %q is a URL; write only its path: bots reach the app through prosper's router", k, s)
	case !strings.HasPrefix(s, "/"):
		return "", p.d.errAt(e.Value, "%s: %q must start with \"/\"; write /%s", k, s, s)
	case strings.ContainsFunc(template.ReplaceAllString(s, ""), func(r rune) bool { return r == ' ' || isControl(r) }):
		return "", p.d.errAt(e.Value, "%s: %q holds a space; write it as %%20", k, s)
	}
	return s, p.templates(s, e.Value, step)
}

// body reads json: (any YAML value, sent as JSON) or body: (text sent as written).
func (p *scenarioParser) body(e *ast.MappingValueNode, k string, step int) ([]byte, error) {
	if k == "body" {
		s, err := p.d.required(e, k, "the text to send")
		if err != nil {
			return nil, err
		}
		return []byte(s), p.templates(s, e.Value, step)
	}
	return p.d.appendJSON(nil, e.Value, func(s string, n ast.Node) error {
		return p.templates(s, n, step)
	})
}

var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// headers reads a mapping of header names to value templates.
func (p *scenarioParser) headers(e *ast.MappingValueNode, step int) (map[string]string, error) {
	d := p.d
	entries, err := d.entries(e.Value, "headers", "a mapping of header names to values, such as {X-Tenant: acme}")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	h := map[string]string{}
	for _, he := range entries {
		name, err := d.key(he)
		if err != nil {
			return nil, err
		}
		if !headerName.MatchString(name) {
			return nil, d.errAt(he.Key, "headers: %q is not a valid header name", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch canon {
		case "Host":
			return nil, d.errAt(he.Key, "headers: Host is set by prosper to the app's domain; remove it")
		case "Content-Length", "Transfer-Encoding", "Connection":
			return nil, d.errAt(he.Key, "headers: %s is set by prosper from the body; remove it", canon)
		case headerBot, headerBotStep:
			return nil, d.errAt(he.Key, "headers: %s is set by prosper on every bot request; remove it", canon)
		}
		if _, dup := h[canon]; dup {
			return nil, d.errAt(he.Key, "headers: %s is set twice; keep one", canon)
		}
		v, ok, err := d.scalar(he.Value, "headers."+name, "a header value")
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, d.errAt(he.Value, "headers.%s: a header value fits on one line", name)
		}
		if !ok {
			v = "" // "X-Empty:" sends the header with no value
		}
		if err := p.templates(v, he.Value, step); err != nil {
			return nil, err
		}
		h[canon] = v
	}
	return h, nil
}

// expect reads a step's expectations.
func (p *scenarioParser) expect(e *ast.MappingValueNode) (Expect, error) {
	d := p.d
	entries, err := d.entries(e.Value, "expect", "a mapping such as {status: 200}")
	if err != nil {
		return Expect{}, err
	}
	var x Expect
	for _, ee := range entries {
		k, err := d.key(ee)
		if err != nil {
			return Expect{}, err
		}
		switch k {
		case "status":
			if x.Status, err = p.status(ee); err != nil {
				return Expect{}, err
			}
		case "json":
			if x.JSON, err = p.expectJSON(ee); err != nil {
				return Expect{}, err
			}
		case "body_contains":
			if x.BodyContains, err = d.required(ee, "expect.body_contains", "the text the body must hold"); err != nil {
				return Expect{}, err
			}
		case "max_latency":
			if x.MaxLatency, err = p.duration(ee, "expect.max_latency", 1, MaxTimeout); err != nil {
				return Expect{}, err
			}
		default:
			return Expect{}, d.errAt(ee.Key, "%s", yamlfile.UnknownKey("key", k, "expect", expectKeys))
		}
	}
	return x, nil
}

// status reads one status or a list of them.
func (p *scenarioParser) status(e *ast.MappingValueNode) ([]int, error) {
	d := p.d
	v, err := d.resolve(e.Value)
	if err != nil {
		return nil, err
	}
	nodes := []ast.Node{e.Value}
	if seq, ok := v.(*ast.SequenceNode); ok {
		nodes = seq.Values
		if len(nodes) == 0 {
			return nil, d.errAt(e.Key, "expect.status: the list is empty; list the statuses that pass, such as [200, 201]")
		}
	}
	var out []int
	for _, n := range nodes {
		s, ok, err := d.scalar(n, "expect.status", "a status such as 200, or a list such as [200, 201]")
		if err != nil {
			return nil, err
		}
		code, convErr := strconv.Atoi(s)
		if !ok || convErr != nil {
			r, _ := d.resolve(n)
			return nil, d.errAt(n, "expect.status: expected a status such as 200, not %s", yamlfile.Describe(r))
		}
		if code < 100 || code > 599 {
			return nil, d.errAt(n, "expect.status: %d is not an HTTP status; use 100 to 599", code)
		}
		out = append(out, code)
	}
	return out, nil
}

// expectJSON reads a mapping of JSONPaths to the values found there.
func (p *scenarioParser) expectJSON(e *ast.MappingValueNode) (map[string]any, error) {
	d := p.d
	entries, err := d.entries(e.Value, "expect.json", "a mapping of JSON paths to values, such as {$.room: 12}")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := map[string]any{}
	for _, je := range entries {
		path, err := d.key(je)
		if err != nil {
			return nil, err
		}
		if err := d.jsonPath(je.Key, "expect.json", path); err != nil {
			return nil, err
		}
		doc, err := d.appendJSON(nil, je.Value, func(s string, n ast.Node) error {
			if names, _ := templateNames(s); len(names) > 0 {
				return d.errAt(n, "expect.json: variables are not filled in expectations; write the value itself, or \"*\" for any value")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, d.errAt(je.Value, "expect.json: %v", err) // appendJSON writes valid JSON; kept for safety
		}
		out[path] = v
	}
	return out, nil
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// save reads a mapping of variable names to the JSONPaths they are taken from.
func (p *scenarioParser) save(e *ast.MappingValueNode, step int) (map[string]string, error) {
	d := p.d
	entries, err := d.entries(e.Value, "save", "a mapping of variable names to JSON paths, such as {id: $.id}")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, se := range entries {
		name, err := d.key(se)
		if err != nil {
			return nil, err
		}
		switch {
		case !variableName.MatchString(name):
			return nil, d.errAt(se.Key, "save: %q is not a variable name; use letters, digits and _, such as booking_id", name)
		case slices.Contains(builtins, name):
			return nil, d.errAt(se.Key, "save: {{%s}} is built in; choose another name", name)
		}
		path, err := d.required(se, "save."+name, "a JSON path such as $.id")
		if err != nil {
			return nil, err
		}
		if err := d.jsonPath(se.Value, "save."+name, path); err != nil {
			return nil, err
		}
		out[name] = path
		p.saves[name] = append(p.saves[name], savedAt{step, d.line(se.Key)})
	}
	return out, nil
}

// jsonPath checks a JSONPath as the runner will evaluate it.
func (d *decoder) jsonPath(n ast.Node, where, s string) error {
	if !strings.HasPrefix(s, "$") {
		return d.errAt(n, "%s: %q is not a JSON path; write $.%s", where, s, strings.TrimPrefix(s, "."))
	}
	if _, err := jp.ParseString(s); err != nil {
		return d.errAt(n, "%s: %q is not a valid JSON path (%s)", where, s, strings.TrimSpace(err.Error()))
	}
	return nil
}

// appendJSON writes a YAML value as JSON, keeping the order of mapping keys as
// written. visit sees each string (keys too) with its node, for templates.
func (d *decoder) appendJSON(buf []byte, n ast.Node, visit func(string, ast.Node) error) ([]byte, error) {
	v, err := d.resolve(n)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case *ast.MappingNode, *ast.MappingValueNode:
		entries, err := d.entries(x, "json", "a mapping")
		if err != nil {
			return nil, err
		}
		buf = append(buf, '{')
		for i, e := range entries {
			k, err := d.key(e)
			if err != nil {
				return nil, err
			}
			if err := visit(k, e.Key); err != nil {
				return nil, err
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, quote(k)...)
			buf = append(buf, ':')
			if buf, err = d.appendJSON(buf, e.Value, visit); err != nil {
				return nil, err
			}
		}
		return append(buf, '}'), nil
	case *ast.SequenceNode:
		buf = append(buf, '[')
		for i, item := range x.Values {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = d.appendJSON(buf, item, visit); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case *ast.StringNode, *ast.LiteralNode:
		s := yamlfile.Text(x)
		if err := visit(s, x); err != nil {
			return nil, err
		}
		return append(buf, quote(s)...), nil
	case *ast.IntegerNode:
		// Written in decimal: YAML's 0x10 or 1_000 are not JSON.
		return fmt.Append(buf, x.Value), nil
	case *ast.FloatNode:
		if s := yamlfile.Text(x); json.Valid([]byte(s)) {
			return append(buf, s...), nil // as written, so 12.50 stays 12.50
		}
		return strconv.AppendFloat(buf, x.Value, 'g', -1, 64), nil
	case *ast.BoolNode:
		return strconv.AppendBool(buf, x.Value), nil
	case *ast.InfinityNode, *ast.NanNode:
		return nil, d.errAt(n, "json: JSON has no %s; quote it to send text", yamlfile.Text(x))
	}
	return nil, d.errAt(n, "json: %s cannot be written as JSON", yamlfile.Describe(v))
}
