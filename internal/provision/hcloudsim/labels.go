package hcloudsim

import (
	"fmt"
	"strings"
)

// requirement is one term of a label selector.
type requirement struct {
	key    string
	op     string // "=", "!=", "exists", "!exists", "in", "notin"
	values []string
}

// selector is a parsed label selector: every requirement must hold.
type selector []requirement

// parseSelector parses the API's label selector syntax: comma-separated
// terms k=v, k==v, k!=v, k, !k, "k in (a,b)" and "k notin (a,b)".
func parseSelector(s string) (selector, error) {
	var sel selector
	for _, term := range splitTerms(s) {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		r, err := parseTerm(term)
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// splitTerms splits on commas outside parentheses.
func splitTerms(s string) []string {
	var terms []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, s[start:i])
				start = i + 1
			}
		}
	}
	return append(terms, s[start:])
}

func parseTerm(term string) (requirement, error) {
	if k, v, ok := strings.Cut(term, "!="); ok {
		return requirement{key: strings.TrimSpace(k), op: "!=", values: []string{strings.TrimSpace(v)}}, nil
	}
	if k, v, ok := strings.Cut(term, "=="); ok {
		return requirement{key: strings.TrimSpace(k), op: "=", values: []string{strings.TrimSpace(v)}}, nil
	}
	if k, v, ok := strings.Cut(term, "="); ok {
		return requirement{key: strings.TrimSpace(k), op: "=", values: []string{strings.TrimSpace(v)}}, nil
	}
	for _, op := range []string{" notin ", " in "} {
		if k, v, ok := strings.Cut(term, op); ok {
			v = strings.TrimSpace(v)
			if !strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") {
				return requirement{}, fmt.Errorf("label selector %q: values must be in parentheses", term)
			}
			var values []string
			for _, x := range strings.Split(v[1:len(v)-1], ",") {
				values = append(values, strings.TrimSpace(x))
			}
			return requirement{key: strings.TrimSpace(k), op: strings.TrimSpace(op), values: values}, nil
		}
	}
	if k, ok := strings.CutPrefix(term, "!"); ok {
		return requirement{key: strings.TrimSpace(k), op: "!exists"}, nil
	}
	if strings.ContainsAny(term, " ()") {
		return requirement{}, fmt.Errorf("label selector %q: unknown operator", term)
	}
	return requirement{key: term, op: "exists"}, nil
}

// matches reports whether labels satisfy every requirement.
func (sel selector) matches(labels map[string]string) bool {
	for _, r := range sel {
		v, ok := labels[r.key]
		var hold bool
		switch r.op {
		case "=":
			hold = ok && v == r.values[0]
		case "!=":
			hold = !ok || v != r.values[0]
		case "exists":
			hold = ok
		case "!exists":
			hold = !ok
		case "in":
			hold = ok && contains(r.values, v)
		case "notin":
			hold = !ok || !contains(r.values, v)
		}
		if !hold {
			return false
		}
	}
	return true
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}
