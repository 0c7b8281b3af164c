package bots

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	const booking = `{"id": 17, "room": 12, "day": "2026-12-01", "big": 12345678901234567890,
		"price": 12.0, "gone": null, "items": [{"id": 1}, {"id": 2}], "owner": {"name": "ann"}}`
	tests := []struct {
		name    string
		expect  Expect
		save    map[string]string
		status  int
		body    string
		latency time.Duration
		reason  string
		saved   map[string]string
	}{
		{name: "no expectations: 200 passes", status: 200},
		{name: "no expectations: 302 passes", status: 302},
		{name: "no expectations: 404 fails", status: 404, reason: "status 404, want below 400"},
		{name: "status below 500 passes 404", expect: Expect{StatusBelow: 500}, status: 404},
		{name: "status below 500 fails 502", expect: Expect{StatusBelow: 500}, status: 502, reason: "status 502, want below 500"},
		{name: "status matches", expect: Expect{Status: []int{201}}, status: 201},
		{name: "status differs", expect: Expect{Status: []int{200}}, status: 500, reason: "status 500, want 200"},
		{name: "status list matches", expect: Expect{Status: []int{200, 204}}, status: 204},
		{name: "status list differs", expect: Expect{Status: []int{200, 201, 204}}, status: 404, reason: "status 404, want 200, 201 or 204"},
		{
			name:   "a wrong status is the only failure reported",
			expect: Expect{Status: []int{200}, BodyContains: "room", JSON: map[string]any{"$.room": 12}},
			save:   map[string]string{"id": "$.id"},
			status: 500, body: "<html>oops</html>",
			reason: "status 500, want 200",
		},
		{
			name: "JSON values compare as JSON: 12 is 12.0, big numbers exactly",
			expect: Expect{JSON: map[string]any{
				"$.room": json.Number("12.0"), "$.price": 12, "$.big": json.Number("12345678901234567890"),
				"$.day": "2026-12-01", "$.gone": nil, "$.owner": map[string]any{"name": "ann"},
				"$.items[*].id": []any{json.Number("1"), json.Number("2")}, "$.items[1].id": json.Number("2"),
			}},
			status: 200, body: booking,
		},
		{name: "JSON value differs", expect: Expect{JSON: map[string]any{"$.room": json.Number("13")}}, status: 200, body: booking, reason: "$.room is 12, want 13"},
		{name: "big numbers differ in the last digit", expect: Expect{JSON: map[string]any{"$.big": json.Number("12345678901234567891")}}, status: 200, body: booking,
			reason: "$.big is 12345678901234567890, want 12345678901234567891"},
		{name: "JSON type differs", expect: Expect{JSON: map[string]any{"$.day": json.Number("2026")}}, status: 200, body: booking,
			reason: `$.day is "2026-12-01" (a string), want 2026 (a number)`},
		{name: "JSON null is not missing", expect: Expect{JSON: map[string]any{"$.gone": "x"}}, status: 200, body: booking,
			reason: `$.gone is null (null), want "x" (a string)`},
		{name: "any value present", expect: Expect{JSON: map[string]any{"$.id": "*", "$.gone": "*"}}, status: 200, body: booking},
		{name: "any value missing", expect: Expect{JSON: map[string]any{"$.nope": "*"}}, status: 200, body: booking, reason: "$.nope is missing, want any value"},
		{name: "value missing", expect: Expect{JSON: map[string]any{"$.nope": json.Number("1")}}, status: 200, body: booking, reason: "$.nope is missing, want 1"},
		{name: "wildcard selecting nothing is missing", expect: Expect{JSON: map[string]any{"$.owner.pets[*]": "*"}}, status: 200, body: booking, reason: "$.owner.pets[*] is missing, want any value"},
		{name: "body not JSON", expect: Expect{JSON: map[string]any{"$.room": json.Number("12")}}, status: 200, body: "<html>hello</html>",
			reason: `the body is not JSON (it starts "<html>hello</html>"), want $.room = 12`},
		{name: "body empty", expect: Expect{JSON: map[string]any{"$.room": json.Number("12")}}, status: 200, body: "",
			reason: `the body is empty, not JSON, want $.room = 12`},
		{name: "body contains", expect: Expect{BodyContains: "room"}, status: 200, body: booking},
		{name: "body does not contain", expect: Expect{BodyContains: "suite"}, status: 200, body: booking, reason: `body does not contain "suite"`},
		{name: "latency within", expect: Expect{MaxLatency: 300 * time.Millisecond}, status: 200, latency: 300 * time.Millisecond},
		{name: "latency over", expect: Expect{MaxLatency: 300 * time.Millisecond}, status: 200, latency: 412337 * time.Microsecond,
			reason: "took 412ms, want at most 300ms"},
		{
			name:   "every failure after the status is listed",
			expect: Expect{BodyContains: "suite", MaxLatency: time.Millisecond, JSON: map[string]any{"$.room": json.Number("1")}},
			status: 200, body: booking, latency: 2 * time.Second,
			reason: `$.room is 12, want 1; body does not contain "suite"; took 2s, want at most 1ms`,
		},
		{name: "save", save: map[string]string{"id": "$.id", "day": "$.day", "big": "$.big", "owner": "$.owner"}, status: 201, body: booking,
			saved: map[string]string{"id": "17", "day": "2026-12-01", "big": "12345678901234567890", "owner": `{"name":"ann"}`}},
		{name: "save missing", save: map[string]string{"id": "$.booking.id"}, status: 201, body: booking, reason: "save id: $.booking.id is missing"},
		{name: "save from a body that is not JSON", save: map[string]string{"id": "$.id"}, status: 201, body: "created", reason: `save id: the body is not JSON (it starts "created")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := Step{Name: "s", Method: "GET", Path: "/", Expect: tt.expect, Save: tt.save}
			reason, saved := Check(step, tt.status, []byte(tt.body), tt.latency)
			if reason != tt.reason {
				t.Errorf("reason\n got %q\nwant %q", reason, tt.reason)
			}
			if tt.saved != nil && !reflect.DeepEqual(saved, tt.saved) {
				t.Errorf("saved %v, want %v", saved, tt.saved)
			}
		})
	}
}

// TestCheckKeepsTypes checks that a number saved from an answer goes back into a
// JSON body as a number, and a string as a string.
func TestCheckKeepsTypes(t *testing.T) {
	step := Step{Save: map[string]string{"id": "$.id", "code": "$.code"}}
	reason, vs := check(step, 200, []byte(`{"id": 17, "code": "17"}`), 0)
	if reason != "" {
		t.Fatal(reason)
	}
	got := string(vs.expandJSON([]byte(`{"id":"{{id}}","code":"{{code}}"}`)))
	if want := `{"id":17,"code":"17"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
