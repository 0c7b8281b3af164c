package appconfig

import "testing"

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "prosper.yaml", Line: 3, Column: 1, Msg: "bad"}, "prosper.yaml:3:1: bad"},
		{Error{File: "prosper.yaml", Line: 3, Msg: "bad"}, "prosper.yaml:3: bad"},
		{Error{File: "prosper.yml", Msg: "rename it"}, "prosper.yml: rename it"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"team", "build", "run", "health", "health_timeout", "replicas", "domains", "verify"}
	tests := []struct{ key, want string }{
		{"buidl", "build"},   // transposition
		{"biuld", "build"},   // transposition
		{"buld", "build"},    // deletion
		{"builds", "build"},  // insertion
		{"Health", "health"}, // case
		{"health-timeout", "health_timeout"},
		{"replica", "replicas"},
		{"domain", "domains"},
		{"ran", "run"}, // one substitution on a short name
		{"image", ""},  // nothing close
		{"rn", "run"},  // one deletion
		{"tm", ""},     // two edits from "team": too many for a short name
		{"verification", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"build", "build", 0},
		{"buidl", "build", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
