package compare

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRenderRoundTrip(t *testing.T) {
	for _, p := range []string{
		"$", "$.a", "$.a.b[3].c", "$[0][1]", `$["a.b"]`, `$["x y"].z`, `$[""]`, "$.items[*].id",
		"$..request_id", `$..["odd key"]`, "$..[*]", `$["quote\"d"]`,
	} {
		segs, err := parsePath(p)
		if err != nil {
			t.Errorf("parsePath(%q): %v", p, err)
			continue
		}
		if got := renderPath(segs); got != p {
			t.Errorf("renderPath(parsePath(%q)) = %q", p, got)
		}
	}
}

func TestParsePathForms(t *testing.T) {
	tests := []struct {
		in   string
		want []segment
	}{
		{"$.a-b", []segment{{kind: segKey, key: "a-b"}}},
		{"$['a b']", []segment{{kind: segKey, key: "a b"}}},
		{"$.*", []segment{{kind: segWild}}},
		{"$..id", []segment{{kind: segKey, key: "id", descend: true}}},
		{"$.a[2]", []segment{{kind: segKey, key: "a"}, {kind: segIndex, index: 2}}},
	}
	for _, tt := range tests {
		got, err := parsePath(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	for _, p := range []string{"", "now", "$.", "$..", "$a", "$[", "$[x]", "$[-1]", `$["a`, "$['a", "$.a..", "$[1"} {
		if _, err := parsePath(p); !errors.Is(err, errPath) {
			t.Errorf("parsePath(%q) error = %v, want errPath", p, err)
		}
	}
	if _, err := CompileIgnore([]string{"$.ok", "bad"}); err == nil {
		t.Error("CompileIgnore accepted a path without $")
	}
}

func TestGeneralize(t *testing.T) {
	tests := map[string]string{
		"$.items[3].id":      "$.items[*].id",
		"$[0][12].a":         "$[*][*].a",
		"$.a.b":              "$.a.b",
		`$["a[1]"]`:          `$["a[1]"]`,
		`$["a[1]"][2]`:       `$["a[1]"][*]`,
		"status":             "status",
		"header:Location":    "header:Location",
		"body":               "body",
		"$.items[*].tags[0]": "$.items[*].tags[*]",
	}
	for in, want := range tests {
		if got := Generalize(in); got != want {
			t.Errorf("Generalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIgnoreMatch(t *testing.T) {
	ig := MustCompileIgnore("$.now", "$.items[*].id", "$..request_id", "$.meta", "$.list[0]", "$.*.secret")
	tests := []struct {
		path string
		want bool
	}{
		{"$.now", true},
		{"$.now2", false},
		{"$.a.now", false},
		{"$.items[0].id", true},
		{"$.items[17].id", true},
		{"$.items[0].name", false},
		{"$.items.x.id", true}, // [*] also matches object members, as in JSONPath
		{"$.request_id", true},
		{"$.a.b[2].request_id", true},
		{"$.a.request_id.x", true}, // below an ignored node
		{"$.a.request_ids", false},
		{"$.meta.etag", true},
		{"$.list[0]", true},
		{"$.list[1]", false},
		{"$.x.secret", true},
		{"$.secret", false},
		{"status", false},
	}
	for _, tt := range tests {
		if got := ig.Match(tt.path); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	if (Ignore{}).Match("$.now") {
		t.Error("the zero Ignore ignores something")
	}
	if got := ig.Paths(); len(got) != 6 || got[0] != "$.now" {
		t.Errorf("Paths() = %v", got)
	}
}

func TestDiffWithIgnore(t *testing.T) {
	live := jsonResp(`{"now":"a","items":[{"id":1,"n":"x"},{"id":2,"n":"y"}],"deep":{"request_id":1,"k":1},"gone":1}`)
	cand := jsonResp(`{"now":"b","items":[{"id":7,"n":"x"},{"id":8,"n":"z"}],"deep":{"request_id":2,"k":1}}`)
	opts := Options{Ignore: MustCompileIgnore("$.now", "$.items[*].id", "$..request_id", "$.gone")}
	got := Diff(live, cand, opts)
	want := []Difference{{"$.items[1].n", KindValue, `"y"`, `"z"`}}
	if !reflect.DeepEqual(got.Differences, want) {
		t.Errorf("got %+v, want %+v", got.Differences, want)
	}
	if got.Ignored != 5 {
		t.Errorf("Ignored = %d, want 5 (now, two ids, request_id, gone)", got.Ignored)
	}
}
