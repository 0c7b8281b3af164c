package server

import (
	"slices"
	"testing"

	"github.com/prosperhq/prosper/internal/runtime"
)

func TestLineLevel(t *testing.T) {
	tests := []struct {
		text   string
		stream string
		want   string
	}{
		{`{"level":"error","msg":"db down"}`, "stdout", "error"},
		{`{"level": "info", "msg": "ok"}`, "stderr", "info"},
		{`{"time":"x","level":"WARN","msg":"slow"}`, "stdout", "warn"},
		{`{"level":"warning","msg":"disk almost full"}`, "stdout", "warn"},
		{`{"level":"debug","msg":"[ERROR] is only quoted here"}`, "stdout", "debug"},
		{`{"level":30,"msg":"pino info"}`, "stdout", "info"},
		{`{"level":50,"msg":"pino error"}`, "stdout", "error"},
		{`time=2024-01-01 level=INFO msg="retrying after error: timeout"`, "stdout", "info"},
		{`level=error msg=boom`, "stdout", "error"},
		{`level="warn" msg=slow`, "stdout", "warn"},
		{`time=x level=warning msg="queue is long"`, "stderr", "warn"},
		{`loglevel=debug is not a level field`, "stdout", "info"},
		{`[ERROR] cannot reach the cache`, "stdout", "error"},
		{`2024/01/01 12:00:00 [warn] slow query`, "stdout", "warn"},
		{`ERROR: disk full`, "stdout", "error"},
		{`WARNING:root:deprecated call`, "stdout", "warn"},
		{`[INFO] fetched user info: ok, after error: none`, "stdout", "info"},
		{`request failed with error: timeout`, "stdout", "error"},
		{`wrote to stderr: nothing`, "stdout", "info"},
		{`userinfo: x`, "stderr", "error"},
		{`FATAL: out of memory`, "stdout", "error"},
		{`panic: runtime error: index out of range`, "stderr", "error"},
		{`listening on :8080`, "stdout", "info"},
		{`goroutine 1 [running]:`, "stderr", "error"},
		{``, "stdout", "info"},
	}
	for _, tt := range tests {
		l := runtime.LogLine{Text: tt.text, Stream: tt.stream}
		if got := lineLevel(l); got != tt.want {
			t.Errorf("lineLevel(%q on %s) = %s, want %s", tt.text, tt.stream, got, tt.want)
		}
		// --level L shows the lines of level L or worse.
		levels := []string{"debug", "info", "warn", "error"}
		for i, lv := range levels {
			want := i <= slices.Index(levels, tt.want)
			if got := matchesLevel(l, lv); got != want {
				t.Errorf("%q (%s) matches --level %s: %v, want %v", tt.text, tt.want, lv, got, want)
			}
		}
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"error", "error", true},
		{"ERROR", "error", true},
		{" Warn ", "warn", true},
		{"warning", "warn", true},
		{"trace", "debug", true},
		{"info", "info", true},
		{"loud", "", false},
		{"", "", false},
		{"30", "", false},
	}
	for _, tt := range tests {
		got, ok := parseLevel(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseLevel(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if matchesLevel(runtime.LogLine{Text: "[ERROR] x"}, "loud") {
		t.Error("an unknown level matched a line")
	}
}
