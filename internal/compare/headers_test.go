package compare

import (
	"net/http"
	"reflect"
	"testing"
)

func TestDiffHeaders(t *testing.T) {
	tests := []struct {
		name       string
		live, cand http.Header
		want       []Difference
	}{
		{"ignored headers", http.Header{
			"Date": {"Mon, 01 Jan 2026 00:00:00 GMT"}, "Content-Length": {"10"}, "Server": {"a"},
			"X-Request-Id": {"1"}, "Etag": {`"a"`}, "X-Custom": {"1"},
		}, http.Header{
			"Date": {"Tue, 02 Jan 2026 00:00:00 GMT"}, "Content-Length": {"11"}, "Server": {"b"},
			"X-Request-Id": {"2"}, "Etag": {`"b"`},
		}, nil},
		{"content type parameters ignored", http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			http.Header{"Content-Type": {"Application/JSON"}}, nil},
		{"content type media type", http.Header{"Content-Type": {"application/json"}},
			http.Header{"Content-Type": {"text/html; charset=utf-8"}},
			[]Difference{{"header:Content-Type", KindHeader, "application/json", "text/html"}}},
		{"location host ignored", http.Header{"Location": {"http://127.0.0.1:4001/notes/1?x=1"}},
			http.Header{"Location": {"/notes/1"}}, nil},
		{"location path", http.Header{"Location": {"/notes/1"}}, http.Header{"Location": {"/login"}},
			[]Difference{{"header:Location", KindHeader, "/notes/1", "/login"}}},
		{"location absent", http.Header{"Location": {"/notes/1"}}, nil,
			[]Difference{{"header:Location", KindHeader, "/notes/1", "(absent)"}}},
		{"cache control order and case", http.Header{"Cache-Control": {"no-cache, Max-Age=0"}},
			http.Header{"Cache-Control": {"max-age=0", "no-cache"}}, nil},
		{"cache control directives", http.Header{"Cache-Control": {"no-store"}},
			http.Header{"Cache-Control": {"public, max-age=3600"}},
			[]Difference{{"header:Cache-Control", KindHeader, "no-store", "max-age=3600, public"}}},
		{"cookie values ignored", http.Header{"Set-Cookie": {"session=abc; Path=/", "theme=dark"}},
			http.Header{"Set-Cookie": {"theme=light", "session=xyz; HttpOnly"}}, nil},
		{"cookie names", http.Header{"Set-Cookie": {"session=abc"}},
			http.Header{"Set-Cookie": {"sid=abc", "session=x"}},
			[]Difference{{"header:Set-Cookie", KindHeader, "session", "session, sid"}}},
		{"non-canonical keys", http.Header{"content-type": {"text/plain"}},
			http.Header{"Content-Type": {"text/plain"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(Response{Status: 200, Header: tt.live}, Response{Status: 200, Header: tt.cand}, Options{})
			if !reflect.DeepEqual(got.Differences, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got.Differences, tt.want)
			}
		})
	}
}

func TestContentTypeField(t *testing.T) {
	live := Response{Status: 200, ContentType: "application/json", Header: http.Header{"Content-Type": {"text/plain"}}}
	cand := Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}}
	if got := Diff(live, cand, Options{}); !got.Equal() {
		t.Errorf("ContentType should take precedence over the header: %+v", got.Differences)
	}
}

func TestComparedHeadersIsACopy(t *testing.T) {
	h := ComparedHeaders()
	h[0] = "Date"
	if ComparedHeaders()[0] != "Content-Type" {
		t.Fatal("ComparedHeaders exposes the package's list")
	}
}
