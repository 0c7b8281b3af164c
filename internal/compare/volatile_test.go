package compare

import (
	"strconv"
	"testing"
	"time"
)

func TestVolatileValues(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secs := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name       string
		live, cand string
		noise      bool
	}{
		{"rfc3339", `"2026-03-01T12:00:00Z"`, `"2026-03-01T12:00:01.123+01:00"`, true},
		{"sql timestamp", `"2026-03-01 12:00:00"`, `"2026-03-01 12:00:07"`, true},
		{"http date", `"Sun, 01 Mar 2026 12:00:00 GMT"`, `"Sun, 01 Mar 2026 12:00:09 GMT"`, true},
		{"uuid", `"0b6c2f1e-8a4d-4c1e-9f3a-2d7e5b8c9a10"`, `"7d1f3a2b-1c4e-4b5d-8e6f-9a0b1c2d3e4f"`, true},
		{"hex", `"9f1c2b3a4d5e6f70"`, `"0123456789abcdef"`, true},
		{"base64", `"aGVsbG8gd29ybGQ1MjM0"`, `"Zm9vYmFyYmF6cXV4OTg3"`, true},
		{"prefixed id", `"note_01HX7ZQ4K8M3N2P5"`, `"note_01HX9AB4K8Z3N2Q7"`, true},
		{"unix seconds near now", secs, strconv.FormatInt(now.Unix()+5, 10), true},
		{"unix millis near now", strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.UnixMilli()+7, 10), true},
		{"small numbers are data", "3", "4", false},
		{"old unix times are data", "1000000000", "1000000005", false},
		{"seconds vs millis", secs, strconv.FormatInt(now.UnixMilli(), 10), false},
		{"words", `"hello"`, `"world"`, false},
		{"sentence", `"the quick brown fox jumps"`, `"the quick brown fox jumped"`, false},
		{"uuid vs hex", `"0b6c2f1e-8a4d-4c1e-9f3a-2d7e5b8c9a10"`, `"9f1c2b3a4d5e6f70"`, false},
		{"hex of different lengths", `"9f1c2b3a4d5e6f70"`, `"9f1c2b3a4d5e6f7012"`, false},
		{"timestamp vs id", `"2026-03-01T12:00:00Z"`, `"9f1c2b3a4d5e6f70"`, false},
		{"type change is never noise", `"2026-03-01T12:00:00Z"`, secs, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live, cand := jsonResp(`{"v":`+tt.live+`}`), jsonResp(`{"v":`+tt.cand+`}`)
			on := Diff(live, cand, Options{IgnoreVolatile: true, Now: now})
			if on.Equal() != tt.noise {
				t.Errorf("with IgnoreVolatile: equal = %v, want %v (%+v)", on.Equal(), tt.noise, on.Differences)
			}
			if tt.noise && on.Ignored != 1 {
				t.Errorf("Ignored = %d, want 1", on.Ignored)
			}
			if off := Diff(live, cand, Options{Now: now}); off.Equal() {
				t.Error("without IgnoreVolatile the difference must be reported")
			}
		})
	}
}
