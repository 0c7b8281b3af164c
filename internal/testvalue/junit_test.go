package testvalue

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseJUnitSamples(t *testing.T) {
	type want struct {
		name, outcome string
		duration      time.Duration
		message       string // contained in the message
	}
	tests := []struct {
		file    string
		results []want
		elapsed time.Duration
		ranAt   time.Time
	}{
		{"pytest.xml", []want{
			{"tests.test_cart.test_add_item", Pass, 12 * time.Millisecond, ""},
			{"tests.test_cart.test_total", Fail, 250 * time.Millisecond, "assert 41 == 42\ndef test_total():"},
			{"tests.test_cart.test_discount[10%-90]", Pass, 3 * time.Millisecond, ""},
			{"tests.test_payment.test_refund", Skip, 0, ""},
			{"tests.test_payment.test_charge", Fail, 101 * time.Millisecond, "ConnectionRefusedError"},
		}, 1234 * time.Millisecond, time.Date(2026, 3, 2, 10, 15, 30, 123456000, time.UTC)},
		{"surefire.xml", []want{
			{"com.example.shop.CartTest.addsItems", Pass, 31 * time.Millisecond, ""},
			{"com.example.shop.CartTest.computesTotal", Fail, 1204500 * time.Millisecond,
				"org.opentest4j.AssertionFailedError: expected: <42> but was: <41>"},
			// Failed, then passed on a rerun: a failed run and a passed one.
			{"com.example.shop.CartTest.appliesCoupon", Fail, 0, "java.util.concurrent.TimeoutException: timeout after 100 ms"},
			{"com.example.shop.CartTest.appliesCoupon", Pass, 200 * time.Millisecond, ""},
			{"com.example.shop.CartTest.shipsAbroad", Skip, 0, ""},
		}, 2500 * time.Millisecond, time.Time{}},
		{"jest.xml", []want{
			{"Cart adds items", Pass, 4 * time.Millisecond, ""},
			{"Cart computes the total", Fail, 10 * time.Millisecond, "Expected: 42\nReceived: 41"},
		}, 800 * time.Millisecond, time.Date(2026, 3, 2, 10, 20, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum, err := Parse(f, FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Format != FormatJUnit || sum.Elapsed != tc.elapsed || !sum.RanAt.Equal(tc.ranAt) {
				t.Errorf("format %s, elapsed %s, ran at %s; want junit, %s, %s", sum.Format, sum.Elapsed, sum.RanAt, tc.elapsed, tc.ranAt)
			}
			if len(sum.Results) != len(tc.results) {
				t.Fatalf("%d results, want %d: %+v", len(sum.Results), len(tc.results), sum.Results)
			}
			for i, w := range tc.results {
				r := sum.Results[i]
				if r.Name != w.name || r.Outcome != w.outcome || r.Duration != w.duration {
					t.Errorf("result %d = %s %s %s, want %s %s %s", i, r.Name, r.Outcome, r.Duration, w.name, w.outcome, w.duration)
				}
				if (w.message == "") != (r.Message == "") || !strings.Contains(r.Message, w.message) {
					t.Errorf("%s: message %q, want it to contain %q", r.Name, r.Message, w.message)
				}
				if strings.Count(r.Message, "\n") >= maxMessageLines {
					t.Errorf("%s: message of %d lines", r.Name, strings.Count(r.Message, "\n")+1)
				}
			}
		})
	}
}

func TestParseJUnitBadInput(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"html", "<html><body>502 Bad Gateway</body></html>", "starts with <html>: expected <testsuites> or <testsuite>"},
		{"cut short", `<testsuite name="x"><testcase name="a" classname="b"><failure>boom`, "JUnit XML line 1"},
		{"no suite", `<?xml version="1.0"?>`, "no <testsuite> or <testcase> found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), FormatAuto)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want ErrInput with %q", err, tc.want)
			}
		})
	}
	// Go's output given as JUnit is refused, not read as an empty report.
	if _, err := Parse(strings.NewReader(`{"Action":"run"}`), FormatJUnit); !errors.Is(err, ErrInput) {
		t.Errorf("JUnit parse of JSON = %v", err)
	}
}
