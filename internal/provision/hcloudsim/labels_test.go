package hcloudsim

import "testing"

func TestLabelSelector(t *testing.T) {
	labels := map[string]string{"cluster": "demo", "role": "worker"}
	tests := []struct {
		selector string
		want     bool
	}{
		{"", true},
		{"cluster=demo", true},
		{"cluster==demo", true},
		{"cluster=other", false},
		{"cluster!=other", true},
		{"cluster!=demo", false},
		{"missing!=x", true},
		{"role", true},
		{"missing", false},
		{"!missing", true},
		{"!role", false},
		{"role in (cp,worker)", true},
		{"role in (cp)", false},
		{"role notin (cp)", true},
		{"role notin (cp, worker)", false},
		{"cluster=demo,role in (cp,worker),!standby", true},
		{"cluster=demo,role=cp", false},
	}
	for _, tt := range tests {
		sel, err := parseSelector(tt.selector)
		if err != nil {
			t.Errorf("parse %q: %v", tt.selector, err)
			continue
		}
		if got := sel.matches(labels); got != tt.want {
			t.Errorf("%q matches %v = %v, want %v", tt.selector, labels, got, tt.want)
		}
	}
	for _, bad := range []string{"role in cp", "a b"} {
		if _, err := parseSelector(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}
