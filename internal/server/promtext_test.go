package server

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metricName is the exposition format's metric and label name syntax.
var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parsePromText parses the Prometheus text exposition format (0.0.4)
// strictly and fails the test on anything a scraper would refuse: a bad name,
// label or value, an escape other than \\, \" and \n, a sample before its
// family's TYPE, a family split in two, a TYPE given twice or a series given
// twice. It returns the samples by their series, written back as
// name{label="value",...} with the labels in their order.
func parsePromText(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out, err := parseProm(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return out
}

// promError carries parseProm's refusal out of its helpers.
type promError struct{ msg string }

func parseProm(text string) (out map[string]float64, err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case promError:
			out, err = nil, errors.New(r.msg)
		default:
			panic(r)
		}
	}()
	types := map[string]string{}
	done := map[string]bool{} // families whose lines are over
	current := ""
	out = map[string]float64{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(why string) { panic(promError{fmt.Sprintf("line %d %q: %s", i+1, line, why)}) }
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 3 || (f[0] != "HELP" && f[0] != "TYPE") {
				continue // an ordinary comment
			}
			if !metricName.MatchString(f[1]) {
				fail("bad metric name")
			}
			if f[0] == "TYPE" {
				switch f[2] {
				case "counter", "gauge", "summary", "histogram", "untyped":
				default:
					fail("unknown type")
				}
				if _, dup := types[f[1]]; dup {
					fail("TYPE given twice")
				}
				types[f[1]] = f[2]
			}
			continue
		}
		name, labels, value := splitSample(line, fail)
		family := name
		for _, suffix := range []string{"_sum", "_count", "_bucket"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && (types[base] == "summary" || types[base] == "histogram") {
				family = base
			}
		}
		if _, ok := types[family]; !ok {
			fail("sample before its family's TYPE")
		}
		if family != current {
			if done[family] {
				fail("family split in two")
			}
			if current != "" {
				done[current] = true
			}
			current = family
		}
		key := name + "{" + strings.Join(labels, ",") + "}"
		if _, dup := out[key]; dup {
			fail("series given twice")
		}
		out[key] = value
	}
	return out, nil
}

// splitSample reads name{labels} value [timestamp], returning the labels
// written back as label="escaped value".
func splitSample(line string, fail func(string)) (string, []string, float64) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		fail("no value")
	}
	name, rest := line[:i], line[i:]
	if !metricName.MatchString(name) {
		fail("bad metric name")
	}
	var labels []string
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for !strings.HasPrefix(rest, "}") {
			eq := strings.Index(rest, `="`)
			if eq < 0 || !labelName.MatchString(rest[:eq]) {
				fail("bad label")
			}
			lname := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					fail("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					fail("raw newline in a label value")
				}
				if c == '\\' {
					if rest == "" || !strings.ContainsRune(`\"n`, rune(rest[0])) {
						fail("bad escape in a label value")
					}
					v.WriteByte('\\')
					c = rest[0]
					rest = rest[1:]
				}
				v.WriteByte(c)
			}
			labels = append(labels, lname+`="`+v.String()+`"`)
			rest = strings.TrimPrefix(rest, ",")
		}
		rest = rest[1:]
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 || !strings.HasPrefix(rest, " ") {
		fail("want one value and an optional timestamp after the series")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		fail("bad value")
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			fail("bad timestamp")
		}
	}
	return name, labels, v
}

func TestParsePromTextRefusesBadInput(t *testing.T) {
	good := "# HELP a_total Things.\n# TYPE a_total counter\na_total{app=\"x\\\"y\",release=\"1\"} 3\n"
	if got, err := parseProm(good); err != nil || got[`a_total{app="x\"y",release="1"}`] != 3 {
		t.Fatalf("good text: %v", got)
	}
	for name, text := range map[string]string{
		"no type":       "a_total 1\n",
		"bad escape":    "# TYPE a counter\na{l=\"\\x\"} 1\n",
		"bad value":     "# TYPE a counter\na 1x\n",
		"duplicate":     "# TYPE a counter\na 1\na 2\n",
		"split family":  "# TYPE a counter\n# TYPE b counter\na 1\nb 1\na{x=\"1\"} 2\n",
		"bad name":      "# TYPE 1a counter\n1a 1\n",
		"unterminated":  "# TYPE a counter\na{l=\"x} 1\n",
		"twice typed":   "# TYPE a counter\n# TYPE a gauge\na 1\n",
		"missing value": "# TYPE a counter\na{l=\"x\"}\n",
	} {
		if _, err := parseProm(text); err == nil {
			t.Errorf("%s: accepted %q", name, text)
		}
	}
}
