package bots

import (
	"encoding/json"
	"testing"
)

func TestExpand(t *testing.T) {
	vs := vars{
		"id":    json.Number("12345678901234567890"),
		"small": int64(7),
		"name":  `a/b&c "q" <x>`,
		"ok":    true,
		"obj":   map[string]any{"k": "v"},
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"text", vs.expand("id={{id}} name={{ name }} keep={{other}}", nil), `id=12345678901234567890 name=a/b&c "q" <x> keep={{other}}`},
		{"path segment is escaped", vs.expandPath("/u/{{name}}/{{small}}"), `/u/a%2Fb&c%20%22q%22%20%3Cx%3E/7`},
		{"query value is escaped", vs.expandPath("/s?q={{name}}&n={{small}}"), `/s?q=a%2Fb%26c+%22q%22+%3Cx%3E&n=7`},
		{"JSON: a lone template takes the value's type", string(vs.expandJSON([]byte(`{"id":"{{id}}","n":"{{small}}","ok":"{{ok}}","o":"{{obj}}","s":"{{name}}"}`))),
			`{"id":12345678901234567890,"n":7,"ok":true,"o":{"k":"v"},"s":"a/b&c \"q\" <x>"}`},
		{"JSON: a template inside text stays text", string(vs.expandJSON([]byte(`{"note": "n{{small}} \"{{id}}\""}`))), `{"note": "n7 \"12345678901234567890\""}`},
		{"JSON: keys stay strings, layout and order are kept", string(vs.expandJSON([]byte(`{ "z{{small}}" : 1, "{{small}}": [ "{{small}}" ] }`))), `{ "z7" : 1, "7": [ 7 ] }`},
		{"JSON: unknown variable is left as written", string(vs.expandJSON([]byte(`["{{nope}}"]`))), `["{{nope}}"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
		})
	}
}

func TestTemplateNames(t *testing.T) {
	names, problem := templateNames("/a/{{id}}/{{ b_2 }}?x={{c}}")
	if problem != "" || len(names) != 3 || names[0] != "id" || names[1] != "b_2" || names[2] != "c" {
		t.Errorf("names %v problem %q", names, problem)
	}
	for _, s := range []string{"/{{id}", "{{ id", "x {{a}} {{b"} {
		if _, problem := templateNames(s); problem == "" {
			t.Errorf("%q: no problem reported for an unclosed template", s)
		}
	}
	// Braces that cannot be a template are text, such as JSON written in a body.
	if _, problem := templateNames(`{{"a": 1}}`); problem != "" {
		t.Errorf("JSON text reported as a template: %s", problem)
	}
}

func TestParseStepHeader(t *testing.T) {
	tests := []struct {
		in   string
		id   string
		step int
		ok   bool
	}{
		{"0a1b2c3d4e5f.2", "0a1b2c3d4e5f", 2, true},
		{"abc.0", "abc", 0, true},
		{"abc", "", 0, false},
		{".1", "", 0, false},
		{"abc.", "", 0, false},
		{"abc.-1", "", 0, false},
		{"abc.+1", "", 0, false},
		{"abc.x", "", 0, false},
	}
	for _, tt := range tests {
		id, step, ok := ParseStepHeader(tt.in)
		if id != tt.id || step != tt.step || ok != tt.ok {
			t.Errorf("ParseStepHeader(%q) = %q, %d, %v; want %q, %d, %v", tt.in, id, step, ok, tt.id, tt.step, tt.ok)
		}
	}
}
