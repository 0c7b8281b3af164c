package rollout

import (
	"slices"
	"testing"
)

func TestExpectedChanges(t *testing.T) {
	msg := "Say hello in French\n\nThe greeting changes.\n\nProsper-Expect-Change: GET /\nprosper-expect-change: GET /api/notes/{id}, /api/*\nSigned-off-by: a\n"
	got := expectedChanges(msg)
	want := []string{"GET /", "GET /api/notes/{id}", "/api/*"}
	if !slices.Equal(got, want) {
		t.Fatalf("expectedChanges = %q, want %q", got, want)
	}
	tests := []struct {
		endpoint string
		want     bool
	}{
		{"GET /", true},
		{"POST /", false},
		{"GET /api/notes/{id}", true},
		{"DELETE /api/notes", true}, // /api/* with any method
		{"GET /api/notes/{id}/tags", false},
		{"GET /healthz", false},
	}
	for _, tt := range tests {
		if got := expectedEndpoint(want, tt.endpoint); got != tt.want {
			t.Errorf("expectedEndpoint(%q) = %v, want %v", tt.endpoint, got, tt.want)
		}
	}
	if !expectedEndpoint([]string{"*"}, "PATCH /x/y") || expectedEndpoint(nil, "GET /") {
		t.Error("* must match everything and no pattern nothing")
	}
}
