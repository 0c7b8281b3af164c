package yamlfile

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

func TestClosest(t *testing.T) {
	known := []string{"build", "health_timeout", "serverType", "pool"}
	tests := map[string]string{
		"buidl":          "build",
		"Health-Timeout": "health_timeout",
		"server_type":    "serverType",
		"pol":            "pool",
		"poolz":          "pool",
		"replicas":       "",
		"x":              "",
	}
	for key, want := range tests {
		if got := Closest(key, known); got != want {
			t.Errorf("Closest(%q) = %q, want %q", key, got, want)
		}
	}
	if got := UnknownKey("gate", "p59", "verify.gates", []string{"p50", "p99"}); got != `unknown gate "p59" in verify.gates (did you mean "p50"?)` {
		t.Errorf("UnknownKey = %q", got)
	}
	if got := UnknownKey("key", "zzz", "", []string{"a", "b"}); got != `unknown key "zzz"; known keys are a, b` {
		t.Errorf("UnknownKey = %q", got)
	}
}

func TestSyntaxError(t *testing.T) {
	tests := map[string]string{
		"a: 1\na: 2\n":      "a is set twice (first on line 1); keep one",
		"a:\n\tb: 1\n":      "tab character in indentation",
		"a: [1, 2\n":        `this list has no closing "]"`,
		"a: \"open\nb: 1\n": "no closing double quote",
		"a: {b: 1\n":        "mapping does not close",
	}
	for src, want := range tests {
		_, err := parser.ParseBytes([]byte(src), 0)
		if err == nil {
			t.Fatalf("%q parsed", src)
		}
		e := SyntaxError("f.yaml", []byte(src), err)
		if !strings.Contains(e.Error(), want) || !strings.HasPrefix(e.Error(), "f.yaml:") {
			t.Errorf("%q: %v, want %q", src, e, want)
		}
	}
}

// Moved from appconfig and clusterfile, whose suggestions this package now makes.
func TestClosestProsperYAMLKeys(t *testing.T) {
	known := []string{"team", "build", "run", "health", "health_timeout", "replicas", "domains", "verify"}
	tests := []struct{ key, want string }{
		{"buidl", "build"},   // transposition
		{"biuld", "build"},   // transposition
		{"buld", "build"},    // deletion
		{"builds", "build"},  // insertion
		{"Health", "health"}, // case
		{"health-timeout", "health_timeout"},
		{"replica", "replicas"},
		{"domain", "domains"},
		{"ran", "run"}, // one substitution on a short name
		{"image", ""},  // nothing close
		{"rn", "run"},  // one deletion
		{"tm", ""},     // two edits from "team": too many for a short name
		{"verification", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.key, known); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"build", "build", 0},
		{"buidl", "build", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosestClusterKeys(t *testing.T) {
	known := []string{"provider", "k3s", "controlPlane", "pools", "standby", "network", "firewall", "sshKeys", "platform"}
	tests := []struct{ key, want string }{
		{"contolPlane", "controlPlane"},
		{"control_plane", "controlPlane"},
		{"ssh-keys", "sshKeys"},
		{"pool", "pools"},
		{"k8s", "k3s"},
		{"providers", "provider"},
		{"nodes", ""},
		{"fw", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.key, known); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"", "abc", 3}, {"cuont", "count", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAnchorsResolve(t *testing.T) {
	f, err := parser.ParseBytes([]byte("base: &b {port: 8080}\ncopy: *b\ntagged: !!str 42\nempty:\nlost: *nowhere\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]ast.Node{}
	for _, e := range f.Docs[0].Body.(*ast.MappingNode).Values {
		values[Text(e.Key)] = e.Value
	}
	a := Anchors{}
	base, missing := a.Resolve(values["base"])
	if missing != nil || base.Type() != ast.MappingType {
		t.Fatalf("anchored mapping: %v, missing %v", base, missing)
	}
	// The alias is met after its anchor: it resolves to the same node.
	if copied, missing := a.Resolve(values["copy"]); missing != nil || copied != base {
		t.Errorf("alias: %v, missing %v", copied, missing)
	}
	if v, _ := a.Resolve(values["tagged"]); !IsScalar(v) || Text(v) != "42" {
		t.Errorf("tagged scalar: %v", v)
	}
	if v, missing := a.Resolve(values["empty"]); v != nil || missing != nil {
		t.Errorf("an empty value is null: %v %v", v, missing)
	}
	if v, missing := a.Resolve(values["lost"]); v != nil || missing == nil || Text(missing.Value) != "nowhere" {
		t.Errorf("an alias to no anchor: %v, missing %v", v, missing)
	}
}
