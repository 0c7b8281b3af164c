package bots

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// bookRoom is the example of the design document, with a named second step.
const bookRoom = `name: book a room            # default: file name without extension
every: 2s
cost_of_failure: 40 EUR
timeout: 5s
steps:
  - post: /api/bookings
    json: {room: 12, day: "2026-12-01"}
    headers: {X-Tenant: acme}
    expect: {status: 201, json: {$.room: 12}}
    save: {id: $.id}
  - name: read it back
    get: /api/bookings/{{id}}
    expect: {status: 200, max_latency: 300ms, body_contains: "room"}
`

func TestParseExample(t *testing.T) {
	s, err := Parse("bots/book-room.yaml", []byte(bookRoom))
	if err != nil {
		t.Fatal(err)
	}
	want := Scenario{
		Name: "book a room", File: "bots/book-room.yaml",
		Every: 2 * time.Second, Timeout: 5 * time.Second,
		Cost: Cost{Amount: 40, Currency: "EUR"},
		Steps: []Step{{
			Name: "POST /api/bookings", Method: "POST", Path: "/api/bookings",
			Header: map[string]string{"X-Tenant": "acme"},
			Body:   []byte(`{"room":12,"day":"2026-12-01"}`), JSON: true,
			Expect: Expect{Status: []int{201}, JSON: map[string]any{"$.room": json.Number("12")}},
			Save:   map[string]string{"id": "$.id"},
			Line:   6,
		}, {
			Name: "read it back", Method: "GET", Path: "/api/bookings/{{id}}",
			Expect: Expect{Status: []int{200}, MaxLatency: 300 * time.Millisecond, BodyContains: "room"},
			Line:   11,
		}},
		nameLine: 1,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", s, want)
	}
	if got := s.Cost.String(); got != "40 EUR" {
		t.Errorf("Cost.String() = %q", got)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		src   string
		check func(t *testing.T, s Scenario)
	}{{
		name: "defaults",
		file: "bots/home.yaml",
		src:  "steps:\n  - get: /\n",
		check: func(t *testing.T, s Scenario) {
			if s.Name != "home" || s.Every != DefaultEvery || s.Timeout != DefaultTimeout || !s.Cost.IsZero() {
				t.Errorf("got name %q every %s timeout %s cost %v", s.Name, s.Every, s.Timeout, s.Cost)
			}
			if st := s.Steps[0]; st.Name != "GET /" || st.Method != "GET" || st.Body != nil || st.Line != 2 {
				t.Errorf("step = %+v", st)
			}
		},
	}, {
		name: "every method, status list, raw body, block json, cents and lower-case currency",
		file: "x.yaml",
		src: `every: 100ms
cost_of_failure: 2.50 usd
steps:
  - put: /a?x={{random}}
    body: "hello {{run_id}}"
  - patch: /b
    json:
      items: [1, 2.50, true, null, "{{unix}}"]
      hex: 0x10
  - delete: /c
    expect: {status: [200, 204]}
  - head: /d
    headers:
      x-trace: "{{run_id}}"
      X-Empty:
`,
		check: func(t *testing.T, s Scenario) {
			if s.Every != 100*time.Millisecond || s.Cost != (Cost{2.5, "USD"}) || s.Cost.String() != "2.5 USD" {
				t.Errorf("every %s cost %+v", s.Every, s.Cost)
			}
			var methods []string
			for _, st := range s.Steps {
				methods = append(methods, st.Method)
			}
			if got := strings.Join(methods, " "); got != "PUT PATCH DELETE HEAD" {
				t.Errorf("methods %s", got)
			}
			if got := string(s.Steps[0].Body); got != "hello {{run_id}}" || s.Steps[0].JSON {
				t.Errorf("raw body %q json %v", got, s.Steps[0].JSON)
			}
			if got := string(s.Steps[1].Body); got != `{"items":[1,2.50,true,null,"{{unix}}"],"hex":16}` {
				t.Errorf("json body %s", got)
			}
			if got := s.Steps[2].Expect.Status; !reflect.DeepEqual(got, []int{200, 204}) {
				t.Errorf("status %v", got)
			}
			if got := s.Steps[3].Header; !reflect.DeepEqual(got, map[string]string{"X-Trace": "{{run_id}}", "X-Empty": ""}) {
				t.Errorf("headers %v", got)
			}
		},
	}, {
		name: "expect json of every kind, any value, and a path with brackets",
		file: "x.yaml",
		src: `steps:
  - get: /
    expect:
      json:
        $.id: "*"
        $.tags: [a, b]
        $.owner: {name: ann}
        "$.items[0].id": 3
        $.ok: true
`,
		check: func(t *testing.T, s Scenario) {
			want := map[string]any{
				"$.id":          "*",
				"$.tags":        []any{"a", "b"},
				"$.owner":       map[string]any{"name": "ann"},
				"$.items[0].id": json.Number("3"),
				"$.ok":          true,
			}
			if got := s.Steps[0].Expect.JSON; !reflect.DeepEqual(got, want) {
				t.Errorf("expect.json = %#v", got)
			}
		},
	}, {
		name: "saved variables reach later steps only, anchors are followed",
		file: "x.yaml",
		src: `steps:
  - post: /login
    headers: &h {X-Tenant: acme}
    save: {token: $.token, user: "$.user.id"}
  - get: /users/{{ user }}
    headers: {Authorization: "Bearer {{token}}"}
  - get: /again
    headers: *h
`,
		check: func(t *testing.T, s Scenario) {
			if got := s.Steps[1].Header["Authorization"]; got != "Bearer {{token}}" {
				t.Errorf("Authorization %q", got)
			}
			if got := s.Steps[2].Header["X-Tenant"]; got != "acme" {
				t.Errorf("aliased header %q", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.file, []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the whole message starts with this
	}{
		{"empty file", "# nothing\n", `b.yaml: the file is empty`},
		{"no steps", "name: x\n", `b.yaml:1:1: no steps`},
		{"empty steps", "steps: []\n", `b.yaml:1:1: steps: the list is empty`},
		{"unknown key with suggestion", "stpes:\n  - get: /\n", `b.yaml:1:1: unknown key "stpes" (did you mean "steps"?)`},
		{"unknown key without suggestion", "steps: [{get: /}]\ncolour: red\n", `b.yaml:2:1: unknown key "colour"; known keys are name, every, cost_of_failure, timeout, steps`},
		{"unknown step key", "steps:\n  - get: /\n    expcet: {status: 200}\n", `b.yaml:3:5: unknown key "expcet" in step 1 (did you mean "expect"?)`},
		{"unknown expect key", "steps:\n  - get: /\n    expect: {stauts: 200}\n", `b.yaml:3:14: unknown key "stauts" in expect (did you mean "status"?)`},
		{"two methods", "steps:\n  - get: /\n    post: /x\n", `b.yaml:3:5: step 1 already sends a GET request; a step sends one, so make post: a step of its own`},
		{"no method", "steps:\n  - get: /\n  - name: lost\n    expect: {status: 200}\n", `b.yaml:3:5: step 2 sends no request; add one of get, post, put, patch, delete, head`},
		{"step not a mapping", "steps:\n  - get /\n", `b.yaml:2:5: step 1: expected a mapping such as "get: /", not the text "get /"`},
		{"json and body", "steps:\n  - post: /\n    json: {a: 1}\n    body: x\n", `b.yaml:4:5: step 1 has both json and body`},
		{"bad duration", "every: soon\nsteps: [{get: /}]\n", `b.yaml:1:8: every: "soon" is not a duration`},
		{"duration without unit", "timeout: 5\nsteps: [{get: /}]\n", `b.yaml:1:10: timeout: "5" has no unit; write 5s for seconds`},
		{"pace too fast", "every: 10ms\nsteps: [{get: /}]\n", `b.yaml:1:8: every: 10ms is out of range; use from 100ms to 24h`},
		{"bad max_latency", "steps:\n  - get: /\n    expect: {max_latency: fast}\n", `b.yaml:3:27: expect.max_latency: "fast" is not a duration`},
		{"cost without currency", "cost_of_failure: 40\nsteps: [{get: /}]\n", `b.yaml:1:18: cost_of_failure: "40" has no currency; write it like 40 EUR`},
		{"cost the wrong way round", "cost_of_failure: EUR 40\nsteps: [{get: /}]\n", `b.yaml:1:18: cost_of_failure: "EUR 40": write the amount first, like 40 EUR`},
		{"cost with a symbol", "cost_of_failure: 40€\nsteps: [{get: /}]\n", `b.yaml:1:18: cost_of_failure: "40€" is not a cost`},
		{"unknown variable with suggestion", "steps:\n  - post: /a\n    save: {id: $.id}\n  - get: /a/{{idd}}\n", `b.yaml:4:10: unknown variable {{idd}} (did you mean {{id}}?)`},
		{"unknown variable", "steps:\n  - get: /\n  - get: /\n    headers: {X-User: \"{{user}}\"}\n", `b.yaml:4:23: unknown variable {{user}}; save it in an earlier step (save: {user: $.user}) or use one of {{random}}, {{run_id}}, {{unix}}`},
		{"unknown variable in json", "steps:\n  - post: /\n    json: {a: [\"{{nope}}\"]}\n", `b.yaml:3:16: unknown variable {{nope}}`},
		{"unknown variable in body", "steps:\n  - post: /\n    body: |\n      hello {{who}}\n", `b.yaml:3:11: unknown variable {{who}}`},
		{"variable saved later", "steps:\n  - get: /a/{{id}}\n  - post: /a\n    save: {id: $.id}\n", `b.yaml:2:10: {{id}} is saved by step 2 (line 4), which runs after this one`},
		{"variable saved by the same step", "steps:\n  - post: /a/{{id}}\n    save: {id: $.id}\n", `b.yaml:2:11: {{id}} is saved by this same step`},
		{"unclosed template", "steps:\n  - get: /a/{{id}\n", `b.yaml:2:10: a "{{" is not closed`},
		{"bad JSONPath in save", "steps:\n  - get: /\n    save: {id: \"$.a b\"}\n", `b.yaml:3:16: save.id: "$.a b" is not a valid JSON path`},
		{"JSONPath without $", "steps:\n  - get: /\n    save: {id: id}\n", `b.yaml:3:16: save.id: "id" is not a JSON path; write $.id`},
		{"bad JSONPath in expect", "steps:\n  - get: /\n    expect:\n      json:\n        \"$.[\": 1\n", `b.yaml:5:9: expect.json: "$.[" is not a valid JSON path`},
		{"unquoted brackets in a flow mapping", "steps:\n  - get: /\n    expect: {json: {$.a[0]: 1}}\n", `b.yaml:3:27: this {...} mapping does not close; quote keys and values that hold [ ] { } or a comma`},
		{"template in expectation", "steps:\n  - get: /\n    expect: {json: {$.a: \"{{run_id}}\"}}\n", `b.yaml:3:26: expect.json: variables are not filled in expectations`},
		{"status out of range", "steps:\n  - get: /\n    expect: {status: 700}\n", `b.yaml:3:22: expect.status: 700 is not an HTTP status`},
		{"status not a number", "steps:\n  - get: /\n    expect: {status: ok}\n", `b.yaml:3:22: expect.status: expected a status such as 200, not the text "ok"`},
		{"URL instead of path", "steps:\n  - get: https://example.com/\n", `b.yaml:2:10: get: "https://example.com/" is a URL; write only its path`},
		{"path without slash", "steps:\n  - get: api\n", `b.yaml:2:10: get: "api" must start with "/"; write /api`},
		{"Host header", "steps:\n  - get: /\n    headers: {Host: x}\n", `b.yaml:3:15: headers: Host is set by prosper`},
		{"bot header", "steps:\n  - get: /\n    headers: {prosper-bot: x}\n", `b.yaml:3:15: headers: Prosper-Bot is set by prosper on every bot request`},
		{"built-in variable saved", "steps:\n  - get: /\n    save: {run_id: $.id}\n", `b.yaml:3:12: save: {{run_id}} is built in`},
		{"infinity in json", "steps:\n  - post: /\n    json: {a: .inf}\n", `b.yaml:3:15: json: JSON has no .inf`},
		{"two documents", "steps: [{get: /}]\n---\nsteps: [{get: /}]\n", `b.yaml:3:1: the file holds more than one YAML document`},
		{"duplicate key", "steps: [{get: /}]\nsteps: [{get: /}]\n", `b.yaml:2:1: steps is set twice (first on line 1)`},
		{"tab indentation", "steps:\n\t- get: /\n", `b.yaml:2:1: tab character in indentation`},
		{"multi-line name", "name: |\n  a\n  b\nsteps: [{get: /}]\n", `b.yaml:1:7: name: write a name on one line`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("b.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is a %T, not an *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got %q\nwant %q…", err.Error(), tt.want)
			}
		})
	}
}
