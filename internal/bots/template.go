package bots

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Built-in variables, available to every step without a save.
const (
	VarRunID  = "run_id" // the run's ID
	VarRandom = "random" // 8 random hex digits, the same for the whole run
	VarUnix   = "unix"   // the run's start, in seconds since 1970, as a number
)

var builtins = []string{VarRunID, VarRandom, VarUnix}

// template matches "{{name}}", spaces inside the braces allowed.
var template = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// unclosed matches what is left of a template the user meant but mistyped, such as
// "{{id}" or "{{ id", once the well-formed ones are taken out.
var unclosed = regexp.MustCompile(`\{\{\s*[A-Za-z_]`)

// templateNames returns the variables s refers to, in order, and a message when s
// holds a template that is not closed.
func templateNames(s string) ([]string, string) {
	var names []string
	for _, m := range template.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	if unclosed.MatchString(template.ReplaceAllString(s, "")) {
		return names, `a "{{" is not closed; write a variable as {{name}}`
	}
	return names, ""
}

// vars holds a run's variables. A value is what the response held at the saved
// path: a string, a number (int64, float64 or json.Number), a bool, nil, or a
// decoded object or list.
type vars map[string]any

// text returns the value of a variable as it is written into a path, header or
// text: a string as itself, anything else as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// expand replaces the templates in s; escape, when not nil, is applied to each
// value. A variable without a value is left as written: Parse rejects those, so it
// can only come from a hand-built Step.
func (vs vars) expand(s string, escape func(string) string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return template.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := vs[template.FindStringSubmatch(m)[1]]
		if !ok {
			return m
		}
		if escape != nil {
			return escape(text(v))
		}
		return text(v)
	})
}

// expandPath replaces the templates in a path with query, escaping each value for
// where it lands, so that an ID holding "/" or "&" stays one path segment or one
// query value.
func (vs vars) expandPath(p string) string {
	path, query, hasQuery := strings.Cut(p, "?")
	out := vs.expand(path, url.PathEscape)
	if hasQuery {
		out += "?" + vs.expand(query, url.QueryEscape)
	}
	return out
}

// expandJSON replaces the templates inside the strings of a JSON document, keeping
// everything else byte for byte. A string value that is exactly one template takes
// the JSON type of the variable's value, so that an ID saved as a number is sent
// back as a number.
func (vs vars) expandJSON(doc []byte) []byte {
	if !bytes.Contains(doc, []byte("{{")) {
		return doc
	}
	var out bytes.Buffer
	for i := 0; i < len(doc); {
		if doc[i] != '"' {
			out.WriteByte(doc[i])
			i++
			continue
		}
		end := stringEnd(doc, i)
		lit := doc[i:end]
		i = end
		if !bytes.Contains(lit, []byte("{{")) {
			out.Write(lit)
			continue
		}
		var s string
		if err := json.Unmarshal(lit, &s); err != nil {
			out.Write(lit)
			continue
		}
		if !isKey(doc, end) {
			if m := template.FindStringSubmatch(s); m != nil && m[0] == s {
				if v, ok := vs[m[1]]; ok {
					if _, isString := v.(string); !isString {
						out.WriteString(rawJSON(v))
						continue
					}
				}
			}
		}
		out.WriteString(quote(vs.expand(s, nil)))
	}
	return out.Bytes()
}

// stringEnd returns the index just after the JSON string starting at doc[start].
func stringEnd(doc []byte, start int) int {
	for j := start + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(doc)
}

// isKey reports whether the JSON string ending before doc[end] is an object key.
func isKey(doc []byte, end int) bool {
	rest := bytes.TrimLeft(doc[end:], " \t\r\n")
	return len(rest) > 0 && rest[0] == ':'
}

// rawJSON writes a variable's value as JSON.
func rawJSON(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// quote writes s as a JSON string, leaving <, > and & as they are: the body is not
// going into HTML.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
