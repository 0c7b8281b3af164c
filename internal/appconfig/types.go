package appconfig

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time written the Go way in prosper.yaml: "60s", "2m30s".
// It marshals to the same text in JSON, so stored configs stay readable.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String returns d in the form it is written in prosper.yaml.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as "1m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration written as "60s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// parseDuration accepts what time.ParseDuration accepts, and explains the common
// mistake of a bare number, which YAML users expect to mean seconds.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if isPlainNumber(s) {
		return 0, fmt.Errorf("%q has no unit; write %ss for seconds", s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write it like 30s, 2m or 1m30s", s)
	}
	return Duration(v), nil
}

// Percent is a share written as "12.5%" in prosper.yaml; the value is the number of
// percent, from 0 to 100.
type Percent float64

// Fraction returns p as a number from 0 to 1.
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// String returns p as written in prosper.yaml, e.g. "12.5%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"
}

// MarshalText writes p as "12.5%".
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a percentage written as "12.5%".
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := parsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// parsePercent reads "0%" to "100%". The percent sign is required: a bare 0.5 could
// mean half or half a percent, and guessing wrong would mirror 50 times too much.
func parsePercent(s string) (Percent, error) {
	s = strings.TrimSpace(s)
	num, ok := strings.CutSuffix(s, "%")
	if !ok && isPlainNumber(s) {
		if f, _ := strconv.ParseFloat(s, 64); f < 1 && strings.Contains(s, ".") {
			// Most likely a fraction: say both readings rather than guess.
			return 0, fmt.Errorf("%q has no percent sign; write %s%% for the fraction %s, or %s%%",
				s, strconv.FormatFloat(f*100, 'f', -1, 64), s, s)
		}
		return 0, fmt.Errorf("%q has no percent sign; write %s%%", s, s)
	}
	num = strings.TrimSpace(num)
	if !ok || !isPlainNumber(strings.TrimPrefix(num, "-")) {
		return 0, fmt.Errorf("%q is not a percentage; write it like 50%%", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a percentage; write it like 50%%", s)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is out of range; a percentage goes from 0%% to 100%%", s)
	}
	return Percent(v), nil
}

// isPlainNumber reports whether s is digits with at most one decimal point, which
// keeps "inf", "1e3" and "0x10" from passing as numbers a user meant to write.
func isPlainNumber(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
