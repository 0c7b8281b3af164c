package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/api"
)

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Msg: `unknown app "x"`}, `unknown app "x"`},
		{Error{Status: 404, Msg: `unknown app "x"`, Hint: "create it"}, `unknown app "x"; create it`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// seen is what the test server received.
type seen struct {
	method, path, auth, contentType, body string
}

// serve starts an HTTP server that records each request and answers with h.
func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*Client, chan seen) {
	t.Helper()
	got := make(chan seen, 10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		h(w, r)
	}))
	t.Cleanup(ts.Close)
	return &Client{URL: ts.URL + "/", Token: "prsp_t"}, got
}

func TestDo(t *testing.T) {
	cl, got := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version": "v1.2.3", "router_url": "http://127.0.0.1:8080"}`)
	})
	var info api.Info
	if err := cl.Do(context.Background(), http.MethodPost, "/api/info?x=1", map[string]string{"name": "shop"}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != "v1.2.3" || info.RouterURL != "http://127.0.0.1:8080" {
		t.Errorf("decoded %+v", info)
	}
	s := <-got
	if s.method != "POST" || s.path != "/api/info?x=1" || s.auth != "Bearer prsp_t" || s.contentType != "application/json" ||
		s.body != `{"name":"shop"}` {
		t.Errorf("server saw %+v", s)
	}

	// No body: no Content-Type; no token: no Authorization; out nil: the answer is not read.
	cl.Token = ""
	if err := cl.Do(context.Background(), http.MethodDelete, "/api/apps/shop", nil, nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.contentType != "" || s.auth != "" || s.body != "" {
		t.Errorf("server saw %+v", s)
	}
}

func TestDoAnswerNotJSON(t *testing.T) {
	cl, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") })
	var v map[string]any
	err := cl.Do(context.Background(), http.MethodGet, "/api/apps", nil, &v)
	if err == nil || !strings.Contains(err.Error(), "read the answer of GET /api/apps") {
		t.Fatalf("err = %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"API error with hint", 404, `{"error": "unknown app \"x\"", "hint": "create it"}`,
			Error{Status: 404, Msg: `unknown app "x"`, Hint: "create it"}},
		{"API error without hint", 401, `{"error": "the token is not valid"}`,
			Error{Status: 401, Msg: "the token is not valid"}},
		{"not JSON", 502, "upstream down\n", Error{Status: 502, Msg: "GET /api/apps: 502 Bad Gateway upstream down"}},
		{"JSON without error", 500, `{"message": "boom"}`, Error{Status: 500, Msg: `GET /api/apps: 500 Internal Server Error {"message": "boom"}`}},
		{"empty body", 503, "", Error{Status: 503, Msg: "GET /api/apps: 503 Service Unavailable"}},
		{"a web page", 404, "<html>\n<body>\n  <h1>Not   Found</h1>\n</body>\n</html>\n",
			Error{Status: 404, Msg: "GET /api/apps: 404 Not Found <html> <body> <h1>Not Found</h1> </body> </html>"}},
		{"a long page", 404, strings.Repeat("é", 300), Error{Status: 404, Msg: "GET /api/apps: 404 Not Found " + strings.Repeat("é", 200) + "..."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			resp, err := cl.Send(context.Background(), http.MethodGet, "/api/apps", "", nil)
			if resp != nil {
				t.Errorf("a failed call returned a response")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if *e != tt.want {
				t.Errorf("error = %+v, want %+v", *e, tt.want)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := &Client{URL: "http://" + addr, Token: "t"}
	err = cl.Do(context.Background(), http.MethodGet, "/api/apps", nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Msg != "cannot reach prosper at http://"+addr || !strings.Contains(e.Hint, "prosper up") ||
		!strings.Contains(e.Hint, "PROSPER_URL") {
		t.Fatalf("err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cl.Do(ctx, http.MethodGet, "/api/apps", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled call: %v", err)
	}
	if err := (&Client{URL: "http://bad host"}).Do(context.Background(), http.MethodGet, "/x", nil, nil); err == nil {
		t.Error("a URL that does not parse gave no error")
	}
}

func TestStream(t *testing.T) {
	result := `{"result": {"release": {"app": "shop", "version": 3, "status": "live"}, "url": "http://shop.localhost:8080", "instant": true}}`
	tests := []struct {
		name      string
		body      string
		wantLines []string
		wantErr   string // "" for success
		apiErr    *Error
	}{
		{name: "progress then result", body: `{"line": "-----> building"}` + "\n" + `{"line": ""}` + "\n" + `{"line": "done"}` + "\n" + result + "\n",
			wantLines: []string{"-----> building", "", "done"}},
		{name: "result without a newline", body: result, wantLines: nil},
		{name: "what follows the result is not read", body: result + "\n" + `{"error": {"error": "late"}}` + "\n"},
		{name: "error with hint", body: `{"line": "compiling"}` + "\n" + `{"error": {"error": "build failed", "hint": "see the log"}}` + "\n",
			wantLines: []string{"compiling"}, wantErr: "build failed; see the log", apiErr: &Error{Msg: "build failed", Hint: "see the log"}},
		{name: "ended early", body: `{"line": "compiling"}` + "\n", wantLines: []string{"compiling"},
			wantErr: "prosper stopped answering before the operation ended: see prosper status"},
		{name: "empty answer", body: "", wantErr: "prosper stopped answering"},
		{name: "not NDJSON", body: "<html>oops</html>", wantErr: "read progress: "},
		{name: "cut in the middle of a message", body: `{"line": "compil`, wantErr: "read progress: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, got := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				io.WriteString(w, tt.body)
			})
			var lines []string
			res, err := cl.Stream(context.Background(), http.MethodPost, "/api/apps/shop/deploys", "application/gzip",
				strings.NewReader("tarball"), func(l string) { lines = append(lines, l) })
			if s := <-got; s.contentType != "application/gzip" || s.body != "tarball" {
				t.Errorf("server saw %+v", s)
			}
			if strings.Join(lines, "|") != strings.Join(tt.wantLines, "|") || len(lines) != len(tt.wantLines) {
				t.Errorf("lines = %q, want %q", lines, tt.wantLines)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Release.App != "shop" || res.Release.Version != 3 || res.URL != "http://shop.localhost:8080" || !res.Instant {
					t.Errorf("result = %+v", res)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.apiErr != nil {
				var e *Error
				if !errors.As(err, &e) || *e != *tt.apiErr {
					t.Errorf("err = %#v, want %#v", err, tt.apiErr)
				}
			}
		})
	}
}

func TestStreamRefusedCall(t *testing.T) {
	cl, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(api.Error{Error: `unknown app "shop"`, Hint: "prosper app create shop"})
	})
	called := false
	_, err := cl.Stream(context.Background(), http.MethodPost, "/api/apps/shop/rollback", "application/json", nil, func(string) { called = true })
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 || e.Hint != "prosper app create shop" || called {
		t.Fatalf("err = %v, line called %v", err, called)
	}
	// A nil line function is allowed.
	cl2, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"line": "x"}`+"\n"+`{"result": {"url": "u"}}`)
	})
	if res, err := cl2.Stream(context.Background(), http.MethodPost, "/x", "", nil, nil); err != nil || res.URL != "u" {
		t.Errorf("nil line func: %+v %v", res, err)
	}
}
