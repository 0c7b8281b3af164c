package appconfig

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in      string
		want    Percent
		wantErr string
	}{
		{"100%", 100, ""},
		{"0%", 0, ""},
		{"12.5%", 12.5, ""},
		{" 50 % ", 50, ""},
		{"50", 0, `"50" has no percent sign; write 50%`},
		{"0.25", 0, `"0.25" has no percent sign; write 25% for the fraction 0.25, or 0.25%`},
		{"101%", 0, `"101%" is out of range; a percentage goes from 0% to 100%`},
		{"-1%", 0, `"-1%" is out of range; a percentage goes from 0% to 100%`},
		{"NaN%", 0, `"NaN%" is not a percentage; write it like 50%`},
		{"1e2%", 0, `"1e2%" is not a percentage; write it like 50%`},
		{"%", 0, `"%" is not a percentage; write it like 50%`},
	}
	for _, tt := range tests {
		got, err := parsePercent(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parsePercent(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parsePercent(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"60s", time.Minute, ""},
		{"1m30s", 90 * time.Second, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"60", 0, `"60" has no unit; write 60s for seconds`},
		{"1.5", 0, `"1.5" has no unit; write 1.5s for seconds`},
		{"1 minute", 0, `"1 minute" is not a duration; write it like 30s, 2m or 1m30s`},
		{"inf", 0, `"inf" is not a duration; write it like 30s, 2m or 1m30s`},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("parseDuration(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Duration() != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestConfigJSON checks that a stored config reads back the same and stays readable.
func TestConfigJSON(t *testing.T) {
	c := Default()
	c.Verify.Mirror = 12.5
	c.Verify.Window = Duration(10 * time.Second)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"health_timeout":"1m0s","replicas":1,"verify":{"mirror":"12.5%","window":"10s"}}`
	if string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.HealthTimeout != c.HealthTimeout || back.Verify.Mirror != 12.5 || back.Verify.Window != c.Verify.Window {
		t.Errorf("round trip: %+v", back)
	}
}
