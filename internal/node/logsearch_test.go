package node

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// searchFixture fills a store whose files rotate every few KiB and whose
// searches take 512-byte segments, so that a search crosses files and
// segment boundaries; it returns the lines written, oldest first.
func searchFixture(t *testing.T) (*logStore, []runtime.LogLine) {
	t.Helper()
	s, err := newLogStore(t.TempDir(), 4096, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.segment = 512
	start := time.Now().Add(-time.Hour)
	texts := []string{
		`GET /checkout 200 #%d `,
		`{"level":"warn","msg":"slow query","ms":1200,"n":%d}`,
		`[ERROR] cannot reach the cache #%d `,
		`<b>hostile</b> "quoted" \ back & slash #%d `,
		`debug: Needle in lower and UPPER #%d `,
		`NEEDLE shouts #%d `,
	}
	var all []runtime.LogLine
	for i := range 600 {
		l := runtime.LogLine{
			Time: start.Add(time.Duration(i) * time.Second), App: "shop",
			Release: 1 + i%2, Replica: i % 3, Stream: []string{"stdout", "stderr"}[i%5/4],
			Text: fmt.Sprintf(texts[i%len(texts)], i),
		}
		if err := s.Append(l); err != nil {
			t.Fatal(err)
		}
		all = append(all, l)
	}
	return s, all
}

// wantSearch is the reference answer: a filter over every line, newest first.
func wantSearch(all []runtime.LogLine, q LogSearch, now time.Time) []string {
	var out []string
	for i := len(all) - 1; i >= 0 && len(out) < orDefault(q.Limit, DefaultLogLimit); i-- {
		l := all[i]
		lv, _ := ParseLevel(q.Level)
		switch {
		case l.App != q.App, q.Release != 0 && l.Release != q.Release,
			q.Since > 0 && l.Time.Before(now.Add(-q.Since)),
			q.Grep != "" && !strings.Contains(strings.ToLower(l.Text), strings.ToLower(q.Grep)),
			q.Level != "" && !LevelAtLeast(LineLevel(l.Stream, l.Text), lv):
			continue
		}
		out = append(out, l.Text)
	}
	return out
}

func orDefault(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

func TestLogSearch(t *testing.T) {
	t.Parallel()
	s, all := searchFixture(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	tests := []struct {
		name string
		q    LogSearch
	}{
		{"everything", LogSearch{App: "shop"}},
		{"limit", LogSearch{App: "shop", Limit: 7}},
		{"grep any case", LogSearch{App: "shop", Grep: "nEEdle"}},
		{"grep rare", LogSearch{App: "shop", Grep: "#17 "}},
		{"grep escaped in JSON", LogSearch{App: "shop", Grep: `<b>hostile</b> "quoted" \ back & slash #21 `}},
		{"grep JSON text", LogSearch{App: "shop", Grep: `"msg":"slow`}},
		{"grep limit", LogSearch{App: "shop", Grep: "needle", Limit: 3}},
		{"grep nothing", LogSearch{App: "shop", Grep: "absent"}},
		{"release", LogSearch{App: "shop", Release: 2, Limit: 50}},
		{"level warn or worse", LogSearch{App: "shop", Level: "warn"}},
		{"level error and grep", LogSearch{App: "shop", Level: "ERROR", Grep: "cache"}},
		{"since", LogSearch{App: "shop", Since: 10 * time.Minute}},
		{"since and grep", LogSearch{App: "shop", Since: 30 * time.Minute, Grep: "checkout", Release: 1}},
		{"other app", LogSearch{App: "blog"}},
	}
	// Segments smaller than a line, of a few lines, and larger than a file.
	for _, seg := range []int64{100, 512, 1 << 20} {
		s.segment = seg
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/segment %d", tt.name, seg), func(t *testing.T) {
				lines, err := s.Search(context.Background(), tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range lines {
					got = append(got, l.Text)
				}
				if want := wantSearch(all, tt.q, now); !slices.Equal(got, want) {
					t.Errorf("got %d lines, want %d\ngot  %q\nwant %q", len(got), len(want), head(got), head(want))
				}
			})
		}
	}
	if _, err := s.Search(context.Background(), LogSearch{App: "shop", Level: "loud"}); err == nil {
		t.Error("an unknown level is accepted")
	}
	if _, err := s.Search(context.Background(), LogSearch{App: "../etc"}); err == nil {
		t.Error("a path as app name is accepted")
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestLogSearchFields checks that found lines carry their level, message and
// fields.
func TestLogSearchFields(t *testing.T) {
	t.Parallel()
	s, _ := searchFixture(t)
	lines, err := s.Search(context.Background(), LogSearch{App: "shop", Grep: "slow query", Limit: 1})
	if err != nil || len(lines) != 1 {
		t.Fatalf("search: %v, %d lines", err, len(lines))
	}
	l := lines[0]
	if l.Level != "warn" || l.Msg != "slow query" || l.Fields["ms"] != json.Number("1200") || len(l.Fields) != 2 {
		t.Errorf("line = %+v, want level warn, msg and the ms field", l)
	}
}

func TestEnrichLine(t *testing.T) {
	tests := []struct {
		text, stream string
		level, msg   string
		fields       string
	}{
		{`{"level":"error","msg":"db down","attempt":3}`, "stdout", "error", "db down", `{"attempt":3}`},
		{`{"lvl":"WARNING","message":"disk"}`, "stdout", "warn", "disk", ``},
		{`{"severity":"debug","msg":"x","user":{"id":9007199254740993}}`, "stderr", "debug", "x", `{"user":{"id":9007199254740993}}`},
		{`{"level":50,"msg":"pino"}`, "stdout", "error", "pino", ``},
		{`{"msg":"no level"}`, "stderr", "error", "no level", ``},
		{`{"level":"info"} trailing`, "stdout", "info", "", ``},
		{`plain [WARN] line`, "stdout", "warn", "", ``},
		{`plain`, "stdout", "info", "", ``},
	}
	for _, tt := range tests {
		l := runtime.LogLine{Text: tt.text, Stream: tt.stream}
		enrichLine(&l)
		var fields string
		if l.Fields != nil {
			b, _ := json.Marshal(l.Fields)
			fields = string(b)
		}
		if l.Level != tt.level || l.Msg != tt.msg || fields != tt.fields {
			t.Errorf("%s: level %q msg %q fields %s, want %q %q %s", tt.text, l.Level, l.Msg, fields, tt.level, tt.msg, tt.fields)
		}
	}
}

func TestLevelAtLeast(t *testing.T) {
	for _, tt := range []struct {
		level, min string
		want       bool
	}{
		{"error", "error", true}, {"error", "warn", true}, {"warn", "error", false},
		{"info", "debug", true}, {"debug", "info", false}, {"", "info", false}, {"error", "loud", false},
	} {
		if got := LevelAtLeast(tt.level, tt.min); got != tt.want {
			t.Errorf("LevelAtLeast(%q, %q) = %v", tt.level, tt.min, got)
		}
	}
}

func TestIndexFold(t *testing.T) {
	tests := []struct {
		h, n string
		want int
	}{
		{"Hello World", "world", 6}, {"Hello World", "WORLD", 6}, {"abc", "", 0}, {"ab", "abc", -1},
		{"xxKkk", "kK", 2}, {"a-b-c", "-c", 3}, {"id 12-34 ID-12-34x", "id-12-34", 9}, {"1-2", "1-2", 0}, {"a1-2", "b1-2", -1}, {"ÉCHEC échec", "échec", 7}, {"zzz", "zz", 0}, {"", "a", -1},
	}
	for _, tt := range tests {
		if got := indexFold([]byte(tt.h), []byte(lowerASCII(tt.n))); got != tt.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", tt.h, tt.n, got, tt.want)
		}
	}
	// Against the obvious implementation, on random ASCII.
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "aAbBkK-.1 "[r.IntN(10)]
		}
		return string(b)
	}
	for range 5000 {
		h, n := rnd(r.IntN(40)), rnd(1+r.IntN(4))
		want := strings.Index(strings.ToLower(h), strings.ToLower(n))
		if got := indexFold([]byte(h), []byte(lowerASCII(n))); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", h, n, got, want)
		}
	}
}

func TestRawSafe(t *testing.T) {
	for s, want := range map[string]bool{"timeout": true, "é ü": true, `a"b`: false, `<`: false, "a\tb": false, "\xff": false, "&": false} {
		if got := rawSafe(s); got != want {
			t.Errorf("rawSafe(%q) = %v", s, got)
		}
		if !rawSafe(s) {
			continue
		}
		// What rawSafe accepts appears unchanged in the stored record.
		b, _ := json.Marshal(runtime.LogLine{Text: "x" + s + "y"})
		if !strings.Contains(string(b), s) {
			t.Errorf("%q is changed by encoding: %s", s, b)
		}
	}
}
