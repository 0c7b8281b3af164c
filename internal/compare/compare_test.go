package compare

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func jsonResp(body string) Response {
	return Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)}
}

func textResp(body string) Response {
	return Response{Status: 200, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte(body)}
}

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name       string
		live, cand string
		want       []Difference
	}{
		{"equal", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, nil},
		{"key order and whitespace", `{"a" : {"x":true, "y":null}}`, "{\n\"a\":{\"y\":null,\"x\":true}}", nil},
		{"value", `{"a":{"b":"x"}}`, `{"a":{"b":"y"}}`,
			[]Difference{{"$.a.b", KindValue, `"x"`, `"y"`}}},
		{"bool value", `{"ok":true}`, `{"ok":false}`,
			[]Difference{{"$.ok", KindValue, "true", "false"}}},
		{"type string to number", `{"text":"12"}`, `{"text":12}`,
			[]Difference{{"$.text", KindType, `"12"`, "12"}}},
		{"type object to null", `{"a":{"b":1}}`, `{"a":null}`,
			[]Difference{{"$.a", KindType, `{"b":1}`, "null"}}},
		{"missing", `{"a":1,"b":2}`, `{"a":1}`,
			[]Difference{{"$.b", KindMissing, "2", "(absent)"}}},
		{"extra", `{"a":1}`, `{"a":1,"c":[1]}`,
			[]Difference{{"$.c", KindExtra, "(absent)", "[1]"}}},
		{"array element", `{"items":[{"id":1},{"id":2}]}`, `{"items":[{"id":1},{"id":3}]}`,
			[]Difference{{"$.items[1].id", KindValue, "2", "3"}}},
		{"array length reported once", `[1,2,3,4]`, `[1,2]`,
			[]Difference{{"$", KindLength, "4 items", "2 items"}}},
		{"array length and element", `{"l":[1,2]}`, `{"l":[9]}`,
			[]Difference{{"$.l[0]", KindValue, "1", "9"}, {"$.l", KindLength, "2 items", "1 item"}}},
		{"nested arrays", `[[1,[2,3]],[4]]`, `[[1,[2,"3"]],[5]]`,
			[]Difference{{"$[0][1][1]", KindType, "3", `"3"`}, {"$[1][0]", KindValue, "4", "5"}}},
		{"odd keys are quoted", `{"a.b":1,"x y":{"z":1}}`, `{"a.b":2,"x y":{"z":2}}`,
			[]Difference{{`$["a.b"]`, KindValue, "1", "2"}, {`$["x y"].z`, KindValue, "1", "2"}}},
		{"root scalar", `"a"`, `"b"`, []Difference{{"$", KindValue, `"a"`, `"b"`}}},
		{"numbers 1 and 1.0", `{"n":1}`, `{"n":1.0}`, nil},
		{"numbers 1e2 and 100", `[1e2, -0, 0.5]`, `[100, 0, 5E-1]`, nil},
		{"big integers differ", `[9007199254740993]`, `[9007199254740992]`,
			[]Difference{{"$[0]", KindValue, "9007199254740993", "9007199254740992"}}},
		{"big integers equal", `[12345678901234567890]`, `[12345678901234567890]`, nil},
		{"number value", `{"n":1.5}`, `{"n":1.25}`, []Difference{{"$.n", KindValue, "1.5", "1.25"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(jsonResp(tt.live), jsonResp(tt.cand), Options{})
			if !reflect.DeepEqual(got.Differences, tt.want) {
				t.Errorf("Diff(%s, %s)\n got %+v\nwant %+v", tt.live, tt.cand, got.Differences, tt.want)
			}
			if got.Equal() != (len(tt.want) == 0) {
				t.Errorf("Equal() = %v with %d differences", got.Equal(), len(got.Differences))
			}
		})
	}
}

func TestDiffStatusAndBody(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name       string
		live, cand Response
		want       []Difference
	}{
		{"status", Response{Status: 200}, Response{Status: 500},
			[]Difference{{PathStatus, KindStatus, "200", "500"}}},
		{"candidate transport error", jsonResp(`{}`), Response{Err: "timeout"},
			[]Difference{{PathStatus, KindStatus, "200", "error: timeout"}}},
		{"same errors", Response{Err: "timeout"}, Response{Err: "timeout"}, nil},
		{"text equal", textResp("hello"), textResp("hello"), nil},
		{"text differs", textResp("hello world"), textResp("hello there"),
			[]Difference{{PathBody, KindBody, `at byte 6: "hello world"`, `at byte 6: "hello there"`}}},
		{"text prefix", textResp("abc"), textResp("abcd"),
			[]Difference{{PathBody, KindBody, "ends at byte 3", `at byte 3: "abcd"`}}},
		{"long text excerpt", textResp(long + "A" + long), textResp(long + "B" + long),
			[]Difference{{PathBody, KindBody,
				`at byte 100: "xxxxxxxxAxxxxxxxxxxxxxxxxxxxxxxx"`, `at byte 100: "xxxxxxxxBxxxxxxxxxxxxxxxxxxxxxxx"`}}},
		{"binary", Response{Status: 200, Body: []byte{0, 1, 2}}, Response{Status: 200, Body: []byte{0, 1, 3}},
			[]Difference{{PathBody, KindBody, `at byte 2: "\x00\x01\x02"`, `at byte 2: "\x00\x01\x03"`}}},
		{"JSON-looking text compared structurally", textResp(`{"a":1}`), textResp(`{ "a": 1.0 }`), nil},
		{"invalid JSON compared by content", jsonResp(`{"a":`), jsonResp(`{"a":}`),
			[]Difference{{PathBody, KindBody, "ends at byte 5", `at byte 5: "{\"a\":}"`}}},
		{"trailing garbage is not JSON", jsonResp(`{} x`), jsonResp(`{} y`),
			[]Difference{{PathBody, KindBody, `at byte 3: "{} x"`, `at byte 3: "{} y"`}}},
		{"both empty", Response{Status: 204}, Response{Status: 204}, nil},
		{"truncated compares the common prefix", Response{Status: 200, Body: []byte(`{"a":"xyz`), Truncated: true},
			Response{Status: 200, Body: []byte(`{"a":"xyzw`), Truncated: true}, nil},
		{"truncated prefix differs", Response{Status: 200, Body: []byte(`{"a":"xyz`), Truncated: true},
			Response{Status: 200, Body: []byte(`{"a":"xy!`), Truncated: true},
			[]Difference{{PathBody, KindBody, `at byte 8: "{\"a\":\"xyz"`, `at byte 8: "{\"a\":\"xy!"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.live, tt.cand, Options{})
			if !reflect.DeepEqual(got.Differences, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got.Differences, tt.want)
			}
		})
	}
}

func TestDiffMaxDifferences(t *testing.T) {
	live := jsonResp(`[1,2,3,4,5,6,7,8,9,10]`)
	cand := jsonResp(`[0,0,0,0,0,0,0,0,0,0]`)
	got := Diff(live, cand, Options{MaxDifferences: 3})
	if len(got.Differences) != 3 || !got.Truncated {
		t.Fatalf("got %d differences, truncated %v; want 3, true", len(got.Differences), got.Truncated)
	}
	got = Diff(live, live, Options{MaxDifferences: 3})
	if !got.Equal() || got.Truncated {
		t.Fatalf("equal bodies: %+v", got)
	}
}

func TestDiffRenderingIsShort(t *testing.T) {
	big := `"` + strings.Repeat("é", 200) + `"`
	got := Diff(jsonResp(`{"a":`+big+`}`), jsonResp(`{"a":1}`), Options{})
	if len(got.Differences) != 1 {
		t.Fatalf("got %+v", got.Differences)
	}
	live := got.Differences[0].Live
	if len(live) > maxRender+len("…") || !strings.HasSuffix(live, "…") || !strings.HasPrefix(live, `"éé`) {
		t.Errorf("rendering %q (%d bytes) not cut to %d bytes on a rune boundary", live, len(live), maxRender)
	}
}
