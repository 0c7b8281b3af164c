package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// compareBodies compares JSON structurally when both bodies parse as JSON and
// at least one side says or looks like JSON; anything else by content.
func (d *differ) compareBodies(a, b Response) {
	if a.Truncated || b.Truncated {
		// A cut JSON document does not parse; the common prefix is all we know.
		n := min(len(a.Body), len(b.Body))
		d.compareBytes(a.Body[:n], b.Body[:n])
		return
	}
	if len(a.Body) == 0 && len(b.Body) == 0 {
		return
	}
	if looksJSON(a) || looksJSON(b) {
		va, errA := decodeJSON(a.Body)
		vb, errB := decodeJSON(b.Body)
		if errA == nil && errB == nil {
			d.walk(nil, va, vb)
			return
		}
	}
	d.compareBytes(a.Body, b.Body)
}

func looksJSON(r Response) bool {
	if isJSONMedia(mediaType(r)) {
		return true
	}
	t := bytes.TrimLeft(r.Body, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// decodeJSON keeps numbers as json.Number so that large integers survive and
// 1 and 1.0 can be compared as numbers, not as float64 approximations.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// walk compares two JSON values at path. It reuses the path slice between
// siblings, which is safe because paths are rendered when a difference is added.
func (d *differ) walk(path []segment, a, b any) {
	if d.full() {
		if !d.res.Truncated && !jsonEqual(a, b) {
			d.res.Truncated = true
		}
		return
	}
	if d.opts.Ignore.matchSegs(path) {
		if !jsonEqual(a, b) {
			d.res.Ignored++
		}
		return
	}
	ta, tb := jsonType(a), jsonType(b)
	if ta != tb {
		d.add(Difference{Path: renderPath(path), Kind: KindType, Live: render(a), Candidate: render(b)})
		return
	}
	switch av := a.(type) {
	case map[string]any:
		bv := b.(map[string]any)
		for _, k := range unionKeys(av, bv) {
			child := append(path, segment{kind: segKey, key: k})
			va, inA := av[k]
			vb, inB := bv[k]
			switch {
			case inA && inB:
				d.walk(child, va, vb)
			case d.opts.Ignore.matchSegs(child):
				d.res.Ignored++
			case inA:
				d.add(Difference{Path: renderPath(child), Kind: KindMissing, Live: render(va), Candidate: "(absent)"})
			default:
				d.add(Difference{Path: renderPath(child), Kind: KindExtra, Live: "(absent)", Candidate: render(vb)})
			}
		}
	case []any:
		bv := b.([]any)
		for i := range min(len(av), len(bv)) {
			d.walk(append(path, segment{kind: segIndex, index: i}), av[i], bv[i])
		}
		if len(av) != len(bv) {
			d.add(Difference{Path: renderPath(path), Kind: KindLength, Live: items(len(av)), Candidate: items(len(bv))})
		}
	default:
		if scalarEqual(a, b) {
			return
		}
		if d.opts.IgnoreVolatile && sameVolatileShape(a, b, d.opts.Now) {
			d.res.Ignored++
			return
		}
		d.add(Difference{Path: renderPath(path), Kind: KindValue, Live: render(a), Candidate: render(b)})
	}
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func items(n int) string {
	if n == 1 {
		return "1 item"
	}
	return strconv.Itoa(n) + " items"
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// jsonEqual reports structural equality, numbers compared as numbers.
func jsonEqual(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, va := range av {
			vb, ok := bv[k]
			if !ok || !jsonEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !jsonEqual(av[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return jsonType(a) == jsonType(b) && scalarEqual(a, b)
}

func scalarEqual(a, b any) bool {
	if x, ok := a.(json.Number); ok {
		return numbersEqual(x, b.(json.Number))
	}
	return a == b
}

// numbersEqual compares JSON numbers by value: 1 == 1.0 == 1e0. Integers too
// large for a float64 to tell apart are compared digit by digit.
func numbersEqual(x, y json.Number) bool {
	if x == y {
		return true
	}
	fx, errX := strconv.ParseFloat(string(x), 64)
	fy, errY := strconv.ParseFloat(string(y), 64)
	if errX != nil || errY != nil || fx != fy {
		return false
	}
	if isInteger(x) && isInteger(y) {
		return canonicalInteger(x) == canonicalInteger(y)
	}
	return true
}

func isInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// canonicalInteger folds -0 into 0; JSON integers have no leading zeros.
func canonicalInteger(n json.Number) string {
	if n == "-0" {
		return "0"
	}
	return string(n)
}

// render gives a short JSON rendering of a value for reports.
func render(v any) string {
	if s, ok := v.(string); ok {
		return shorten(strconv.Quote(s))
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "(unrenderable)"
	}
	return shorten(string(out))
}

// compareBytes reports a non-JSON body difference with a hint where the bodies
// first differ.
func (d *differ) compareBytes(a, b []byte) {
	if bytes.Equal(a, b) {
		return
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	d.add(Difference{Path: PathBody, Kind: KindBody, Live: excerptAt(a, i), Candidate: excerptAt(b, i)})
}

// excerptAt shows a few bytes around offset i, quoted so binary stays readable.
func excerptAt(body []byte, i int) string {
	if i >= len(body) {
		return fmt.Sprintf("ends at byte %d", len(body))
	}
	start, end := max(0, i-8), min(len(body), i+24)
	return shorten(fmt.Sprintf("at byte %d: %s", i, strconv.Quote(string(body[start:end]))))
}
