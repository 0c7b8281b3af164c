package clusterfile

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// schemaFile is the published JSON Schema that editors use to check cluster files.
const schemaFile = "../../../docs/cluster.schema.json"

type schema = map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", s["$schema"])
	}
	return s
}

// goPaths lists every setting the Go types accept, as "spec.pools[].name".
func goPaths(t reflect.Type, path string, out map[string]bool) {
	switch t.Kind() {
	case reflect.Pointer:
		goPaths(t.Elem(), path, out)
		return
	case reflect.Slice:
		goPaths(t.Elem(), path+"[]", out)
		return
	case reflect.Struct:
		for f := range t.Fields() {
			if name := yamlName(f); name != "" {
				sub := name
				if path != "" {
					sub = path + "." + name
				}
				out[sub] = true
				goPaths(f.Type, sub, out)
			}
		}
	}
}

// resolveRef follows a local "$ref".
func resolveRef(root, s schema) schema {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			s, _ = s[part].(schema)
		}
	}
}

// schemaPaths lists every setting the schema describes, and complains about an
// object that would let unknown keys through, which Parse refuses.
func schemaPaths(t *testing.T, root, s schema, path string, out map[string]bool) {
	s = resolveRef(root, s)
	if props, ok := s["properties"].(schema); ok {
		if s["additionalProperties"] != false {
			t.Errorf("schema %q allows unknown keys; Parse refuses them (add \"additionalProperties\": false)", path)
		}
		for name, sub := range props {
			p := name
			if path != "" {
				p = path + "." + name
			}
			out[p] = true
			schemaPaths(t, root, sub.(schema), p, out)
		}
	}
	if items, ok := s["items"].(schema); ok {
		schemaPaths(t, root, items, path+"[]", out)
	}
}

// TestSchemaMatchesTypes checks that the schema and the Go types accept the same
// keys, so that an editor neither flags a valid file nor misses a typo.
func TestSchemaMatchesTypes(t *testing.T) {
	root := loadSchema(t)
	fromGo, fromSchema := map[string]bool{}, map[string]bool{}
	goPaths(reflect.TypeFor[Cluster](), "", fromGo)
	schemaPaths(t, root, root, "", fromSchema)
	if len(fromGo) < 40 {
		t.Fatalf("found %d settings in the Go types; the walk is broken", len(fromGo))
	}
	for _, p := range slices.Sorted(maps.Keys(fromGo)) {
		if !fromSchema[p] {
			t.Errorf("%s is accepted by Parse but missing from %s", p, schemaFile)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(fromSchema)) {
		if !fromGo[p] {
			t.Errorf("%s is in %s but Parse refuses it", p, schemaFile)
		}
	}
}

// validate checks v against the parts of JSON Schema the published schema uses;
// it fails the test on a keyword it does not know, so that the schema cannot grow
// parts this test silently skips.
func validate(t *testing.T, root, s schema, v any, path string) []string {
	s = resolveRef(root, s)
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	for kw := range s {
		switch kw {
		case "$schema", "$id", "$ref", "$defs", "title", "description", "default",
			"type", "enum", "properties", "additionalProperties", "required", "items",
			"minItems", "minProperties", "maxProperties", "minimum", "maximum",
			"pattern", "minLength", "maxLength", "not":
		default:
			t.Fatalf("%s: schema keyword %q is not checked by this test", path, kw)
		}
	}
	if types, ok := s["type"]; ok {
		var allowed []string
		switch ty := types.(type) {
		case string:
			allowed = []string{ty}
		case []any:
			for _, x := range ty {
				allowed = append(allowed, x.(string))
			}
		}
		if !slices.Contains(allowed, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(allowed, "number")) {
			fail("is %s, want %s", jsonType(v), strings.Join(allowed, " or "))
			return errs
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return equalJSON(e, v) }) {
		fail("%v is not one of %v", v, enum)
	}
	if not, ok := s["not"].(schema); ok && len(validate(t, root, not, v, path)) == 0 {
		fail("%v is excluded", v)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(schema)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				fail("%s is required", r)
			}
		}
		if n, ok := s["minProperties"].(float64); ok && float64(len(x)) < n {
			fail("has %d keys, want at least %v", len(x), n)
		}
		if n, ok := s["maxProperties"].(float64); ok && float64(len(x)) > n {
			fail("has %d keys, want at most %v", len(x), n)
		}
		for k, sub := range x {
			if ps, ok := props[k].(schema); ok {
				errs = append(errs, validate(t, root, ps, sub, path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("unknown key %q", k)
				}
			case schema:
				errs = append(errs, validate(t, root, ap, sub, path+"."+k)...)
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			fail("has %d items, want at least %v", len(x), n)
		}
		if items, ok := s["items"].(schema); ok {
			for i, item := range x {
				errs = append(errs, validate(t, root, items, item, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			fail("%q does not match %s", x, p)
		}
		if n, ok := s["minLength"].(float64); ok && float64(len(x)) < n {
			fail("%q is shorter than %v", x, n)
		}
		if n, ok := s["maxLength"].(float64); ok && float64(len(x)) > n {
			fail("%q is longer than %v", x, n)
		}
	case float64:
		if n, ok := s["minimum"].(float64); ok && x < n {
			fail("%v is below %v", x, n)
		}
		if n, ok := s["maximum"].(float64); ok && x > n {
			fail("%v is above %v", x, n)
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

// jsonType names v's JSON Schema type; v comes from a YAML document read as JSON.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// yamlAsJSON reads a YAML document into the values encoding/json would give, as an
// editor's schema checker sees it.
func yamlAsJSON(t *testing.T, data []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// briefExample is the cluster file as the documentation shows it, verbatim except
// for the S3 placeholders.
const briefExample = `apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: acme-prod}
spec:
  provider:
    hetzner: {locations: [fsn1, nbg1], networkZone: eu-central, image: ubuntu-24.04, snapshot: true}
  k3s: {version: v1.31.4+k3s1, airGapped: false}
  controlPlane: {count: 3, serverType: cpx21}
  pools:
    - {name: workers, count: 3, serverType: cpx31, labels: {tier: app}}
    - {name: platform, count: 2, serverType: cpx41, platform: true}
  standby: 1
  network: {cidr: 10.42.0.0/16}
  firewall: [{port: "22", sources: [0.0.0.0/0]}, {port: "6443", sources: [203.0.113.0/24]}]
  sshKeys: [~/.ssh/id_ed25519.pub]
  platform: {nats: true, postgres: {backup: {s3: {endpoint: "https://s3.example.com", bucket: pg}}}, registry: true, metrics: true, logs: true}
`

func TestSchemaAcceptsExamples(t *testing.T) {
	root := loadSchema(t)
	docs := map[string][]byte{"brief example": []byte(briefExample)}
	for _, f := range []string{"testdata/example.yaml", "testdata/ssh.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = data
		if _, err := Parse(f, data); err != nil {
			t.Errorf("Parse refuses an example the schema is checked with: %v", err)
		}
	}
	for name, data := range docs {
		if errs := validate(t, root, root, yamlAsJSON(t, data), "$"); len(errs) > 0 {
			t.Errorf("%s fails the schema:\n%s", name, strings.Join(errs, "\n"))
		}
	}
}

// TestSchemaRejects checks that the schema, as checked above, catches the mistakes
// an editor should flag; otherwise TestSchemaAcceptsExamples could not fail.
func TestSchemaRejects(t *testing.T) {
	root := loadSchema(t)
	tests := []struct{ name, spec, want string }{
		{"unknown key", "  provider: {hetzner: {}}\n  contolPlane: {}\n", `unknown key "contolPlane"`},
		{"two providers", "  provider: {hetzner: {}, ssh: {hosts: [{address: a, pool: control-plane}]}}\n", "at most 1"},
		{"no provider", "  provider: {}\n", "at least 1"},
		{"two control planes", "  provider: {hetzner: {}}\n  controlPlane: {count: 2}\n", "not one of"},
		{"unknown location", "  provider: {hetzner: {locations: [mars]}}\n", "not one of"},
		{"bad port", "  provider: {hetzner: {}}\n  firewall: [{port: ssh, sources: [0.0.0.0/0]}]\n", "does not match"},
		{"reserved pool name", "  provider: {hetzner: {}}\n  pools: [{name: standby}]\n", "excluded"},
		{"host without pool", "  provider: {ssh: {hosts: [{address: a}]}}\n", "pool is required"},
		{"count as text", "  provider: {hetzner: {}}\n  standby: \"1\"\n", "is string, want integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := yamlAsJSON(t, []byte(header+"spec:\n"+tt.spec))
			errs := strings.Join(validate(t, root, root, doc, "$"), "\n")
			if !strings.Contains(errs, tt.want) {
				t.Errorf("schema errors %q, want one containing %q", errs, tt.want)
			}
			if _, err := Parse("cluster.yaml", []byte(header+"spec:\n"+tt.spec)); err == nil {
				t.Errorf("Parse accepts what the schema refuses")
			}
		})
	}
}
