package main

import (
	"strings"
	"testing"
)

func TestReadURLs(t *testing.T) {
	out := "prosper is up\n  API and UI:  http://127.0.0.1:41234\n  git:  ...\n  router:      http://127.0.0.1:41235\nmore\n"
	api, router, err := readURLs(strings.NewReader(out))
	if err != nil || api != "http://127.0.0.1:41234" || router != "http://127.0.0.1:41235" {
		t.Errorf("readURLs = %q, %q, %v", api, router, err)
	}
	if _, _, err := readURLs(strings.NewReader("  API and UI:  http://127.0.0.1:1\n")); err == nil {
		t.Error("readURLs without a router line: no error")
	}
}

func TestVmRSS(t *testing.T) {
	tests := []struct {
		status string
		want   float64
	}{
		{"Name:\tprosper\nVmPeak:\t  99999 kB\nVmRSS:\t   24780 kB\nRssAnon:\t 1 kB\n", 24780.0 / 1024},
		{"Name:\tzombie\n", 0},
		{"VmRSS:\tlots kB\n", 0},
	}
	for _, tt := range tests {
		if got := vmRSS(tt.status); got != tt.want {
			t.Errorf("vmRSS(%q) = %v, want %v", tt.status, got, tt.want)
		}
	}
}
