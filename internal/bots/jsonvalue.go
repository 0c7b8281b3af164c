package bots

import (
	"encoding/json"
	"math/big"
	"reflect"
)

// Values compared by a json expectation come from two decoders: the scenario file's
// (numbers as json.Number) and the response's (int64, float64, or json.Number when
// too large). They are compared as JSON values: 12 equals 12.0, and numbers are
// compared exactly, so two IDs that differ only in the 17th digit still differ.

// anyValue is the expected value meaning "present, whatever it is".
const anyValue = "*"

// sameJSON reports whether two decoded JSON values are equal.
func sameJSON(want, got any) bool {
	if a, ok := number(want); ok {
		b, ok := number(got)
		return ok && a.Cmp(b) == 0
	}
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(w[i], g[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !sameJSON(wv, gv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// number returns v as an exact rational when it is a JSON number.
func number(v any) (*big.Rat, bool) {
	r := new(big.Rat)
	switch x := v.(type) {
	case json.Number:
		return r.SetString(string(x))
	case int64:
		return r.SetInt64(x), true
	case int:
		return r.SetInt64(int64(x)), true
	case uint64:
		return r.SetUint64(x), true
	case float64:
		if r.SetFloat64(x) == nil { // NaN or infinity: no JSON number
			return nil, false
		}
		return r, true
	}
	return nil, false
}

// kind names the JSON type of a decoded value for messages.
func kind(v any) string {
	if _, ok := number(v); ok {
		return "a number"
	}
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "a value"
}

// show writes a decoded value as JSON for messages, cut so that one large object
// does not drown the sentence it is in.
func show(v any) string {
	s := rawJSON(v)
	const max = 80
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
