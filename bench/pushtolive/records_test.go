package main

import (
	"encoding/json"
	"testing"
)

func TestUnexpected(t *testing.T) {
	report := `{"state": "promoted", "candidate": 3, "differences": {"total": 218, "differing": 101,
		"endpoints": [
			{"endpoint": "GET /", "total": 99, "differing": 99, "ignored": 0},
			{"endpoint": "GET /api/notes", "total": 99, "differing": 2, "ignored": 40},
			{"endpoint": "POST /api/notes", "total": 10, "differing": 0, "ignored": 10}],
		"expected": ["GET /"]}}`
	tests := []struct {
		name                  string
		expected              []string
		differing, ignoredSum int
	}{
		{"GET / declared", []string{"GET /"}, 2, 50},
		{"nothing declared", nil, 101, 50},
	}
	for _, tt := range tests {
		var v verification
		if err := json.Unmarshal([]byte(report), &v); err != nil {
			t.Fatal(err)
		}
		v.Differences.Expected = tt.expected
		if d, i := v.unexpected(); d != tt.differing || i != tt.ignoredSum {
			t.Errorf("%s: unexpected() = %d, %d; want %d, %d", tt.name, d, i, tt.differing, tt.ignoredSum)
		}
	}
}
