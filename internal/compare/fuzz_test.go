package compare

import (
	"fmt"
	"strings"
	"testing"
)

func FuzzDiff(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":1}`, `{"a":1.0}`},
		{`[1,[2,{"b":null}]]`, `[1,[2,{"b":false}],3]`},
		{`{"x y":"é","n":-0}`, `{"n":0}`},
		{`"2026-03-01T12:00:00Z"`, `"0b6c2f1e-8a4d-4c1e-9f3a-2d7e5b8c9a10"`},
		{`not json`, `{"a":`},
		{`1e400`, `1e-400`},
		{``, `[]`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	ig := MustCompileIgnore("$.a", "$..b", "$[*][1]")
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, opts := range []Options{{}, {Ignore: ig, IgnoreVolatile: true}} {
			for _, body := range [][]byte{a, b} {
				if res := Diff(jsonResp(string(body)), jsonResp(string(body)), opts); !res.Equal() || res.Ignored != 0 {
					t.Fatalf("Diff(x, x) of %q = %+v", body, res)
				}
			}
			res := Diff(jsonResp(string(a)), jsonResp(string(b)), opts)
			if len(res.Differences) > DefaultMaxDifferences {
				t.Fatalf("%d differences over the cap", len(res.Differences))
			}
			for _, d := range res.Differences {
				if strings.HasPrefix(d.Path, "$") {
					if _, err := parsePath(d.Path); err != nil {
						t.Fatalf("reported path %q does not parse: %v", d.Path, err)
					}
				}
				_ = PathStat{Path: Generalize(d.Path), Kind: d.Kind, Count: 1}.Sentence("GET /", 1)
			}
		}
	})
}

// BenchmarkDiff compares two ~5 KB JSON bodies that differ in a few places.
func BenchmarkDiff(b *testing.B) {
	build := func(changed bool) []byte {
		var sb strings.Builder
		sb.WriteString(`{"total":40,"items":[`)
		for i := range 40 {
			if i > 0 {
				sb.WriteByte(',')
			}
			text := "a note about things"
			if changed && i%10 == 0 {
				text = "a changed note"
			}
			fmt.Fprintf(&sb, `{"id":%d,"text":%q,"done":%v,"score":%d.5,"tags":["x","y"]}`, i, text, i%2 == 0, i)
		}
		sb.WriteString(`]}`)
		return []byte(sb.String())
	}
	live, cand := jsonResp(string(build(false))), jsonResp(string(build(true)))
	opts := Options{Ignore: MustCompileIgnore("$.items[*].id", "$..request_id"), IgnoreVolatile: true}
	b.SetBytes(int64(len(live.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if res := Diff(live, cand, opts); len(res.Differences) != 4 {
			b.Fatalf("got %d differences, want 4", len(res.Differences))
		}
	}
}
