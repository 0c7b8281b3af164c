package main

import (
	"bufio"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseVerdict(t *testing.T) {
	tests := []struct {
		line    string
		want    verdict
		version int
	}{
		{"remote: -----> PROMOTED v3: 214 requests compared in 10.1s, 98 differ", promoted, 3},
		{"remote: -----> REJECTED v12 in mirror production (216 requests compared); v11 stays live:", rejected, 12},
		{"-----> PROMOTED v7: ...", promoted, 7},
		{"remote: -----> verifying v3 · 3s of 10s · 66 compared, 30 differ", noVerdict, 0},
		{"remote: -----> v3 is live at http://notes.localhost", noVerdict, 0},
		{"remote: -----> PROMOTED vX: no version", noVerdict, 0},
		{"remote:        - diff_rate: a note mentioning PROMOTED v3 without the arrow", noVerdict, 0},
		{"", noVerdict, 0},
	}
	for _, tt := range tests {
		got, version := parseVerdict(tt.line)
		if got != tt.want || version != tt.version {
			t.Errorf("parseVerdict(%q) = %v, v%d; want %v, v%d", tt.line, got, version, tt.want, tt.version)
		}
	}
}

func TestScanLines(t *testing.T) {
	sc := bufio.NewScanner(strings.NewReader("remote: a\rremote: b\r\nremote: c\n\nlast"))
	sc.Split(scanLines)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	want := []string{"remote: a", "remote: b", "", "remote: c", "", "last"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestPushWatch(t *testing.T) {
	tests := []struct {
		name    string
		output  string
		version int
		reasons []string // of a rejection; nil when promoted
		fails   bool     // neither verdict
	}{
		{
			name: "promoted",
			output: "remote: -----> verifying v2 · 9s of 10s · 184 compared\r\n" +
				"remote: -----> PROMOTED v2: 216 requests compared in 10.1s\n" +
				"remote: -----> REJECTED v9 (a later line does not change the verdict)\n",
			version: 2,
		},
		{
			name: "rejected",
			output: "remote: -----> REJECTED v4 in mirror production (216 requests compared); v3 stays live:        \n" +
				"remote:        - diff_rate: 2 of 118 mirrored answers differ from live's (1.7%); allowed 1%        \n" +
				"remote:        - GET /api/notes: $ changed length, e.g. 3 items → 4 items        \n" +
				"error: failed to push some refs\n",
			version: 4,
			reasons: []string{"diff_rate: 2 of 118 mirrored answers differ from live's (1.7%); allowed 1%",
				"GET /api/notes: $ changed length, e.g. 3 items → 4 items"},
		},
		{name: "no verdict", output: "remote: -----> built in 1.2s\nerror: failed to push\n", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPushWatch(time.Now())
			w.follow(strings.NewReader(tt.output))
			version, _, err := w.waitPromoted(time.Second)
			rej, isRejected := errors.AsType[*errRejected](err)
			switch {
			case tt.fails:
				if err == nil || isRejected {
					t.Fatalf("err = %v, want a push without a verdict", err)
				}
			case tt.reasons != nil:
				if !isRejected || rej.version != tt.version {
					t.Fatalf("err = %v, want v%d rejected", err, tt.version)
				}
				if got := rej.reasons(); !slices.Equal(got, tt.reasons) {
					t.Errorf("reasons = %q, want %q", got, tt.reasons)
				}
			default:
				if err != nil || version != tt.version {
					t.Fatalf("= v%d, %v; want v%d promoted", version, err, tt.version)
				}
			}
		})
	}
}
