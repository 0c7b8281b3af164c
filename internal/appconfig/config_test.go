package appconfig

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/invalid")

// TestParseInvalid checks the exact message for every malformed file under
// testdata/invalid against NAME.golden. Run with -update after changing a message,
// then read the diff: the messages are the user interface of this package.
func TestParseInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d malformed files; the glob or the working directory is wrong", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("prosper.yaml", data)
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *Error: %v", err, err)
			}
			if ce.File != "prosper.yaml" || ce.Line < 1 {
				t.Errorf("error has no position: %+v", ce)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("message changed\ngot:  %swant: %s", got, want)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	full := `# every setting, as documented
team: payments
build: go build -o bin/app ./cmd/app
run: bin/app
health: /healthz
health_timeout: 2m
replicas: 3
domains: [Shop.Example.com, api.example.com]
database: sqlite
verify:
  mirror: 12.5%
  window: 10s
  min_requests: 200
  ignore: [$.now, $.request_id]
  gates: {error_rate: +1%, p99: x1.3, diff_rate: 1%, bots: 100%}
bots: bots/*.yaml
`
	tests := []struct {
		name string
		yaml string
		want func(c *Config)
	}{
		{"empty file", "", func(c *Config) {}},
		{"comments only", "# nothing to see\n", func(c *Config) {}},
		{"explicit nulls keep defaults", "replicas:\nhealth_timeout: ~\nverify:\n", func(c *Config) {}},
		{"document marker", "---\nteam: core\n", func(c *Config) { c.Team = "core" }},
		{"full", full, func(c *Config) {
			*c = Config{
				Team: "payments", Build: "go build -o bin/app ./cmd/app", Run: "bin/app",
				Health: "/healthz", HealthTimeout: Duration(2 * time.Minute), Replicas: 3,
				Domains: []string{"shop.example.com", "api.example.com"}, Database: "sqlite",
				Verify: Verify{
					Mirror: 12.5, Window: Duration(10 * time.Second), MinRequests: 200,
					Ignore: []string{"$.now", "$.request_id"},
					Gates:  map[string]string{"error_rate": "+1%", "p99": "x1.3", "diff_rate": "1%", "bots": "100%"},
				},
				Bots: "bots/*.yaml",
			}
		}},
		{"block scalar command", "build: |\n  npm ci\n  npm run build\n", func(c *Config) { c.Build = "npm ci\nnpm run build" }},
		{"image by tag", "image: docker.io/library/node:22-bookworm-slim\n", func(c *Config) { c.Image = "docker.io/library/node:22-bookworm-slim" }},
		{"image by digest", "image: 127.0.0.1:5000/base/python@sha256:" + strings.Repeat("ab", 32) + "\n", func(c *Config) {
			c.Image = "127.0.0.1:5000/base/python@sha256:" + strings.Repeat("ab", 32)
		}},
		{"number as team name", "team: 42\n", func(c *Config) { c.Team = "42" }},
		{"mirror zero stays zero", "verify:\n  mirror: 0%\n", func(c *Config) { c.Verify.Mirror = 0 }},
		{"p99 as added latency", "verify:\n  gates:\n    p99: +50ms\n", func(c *Config) {
			c.Verify.Gates = map[string]string{"p99": "+50ms"}
		}},
		{"anchor and alias", "build: &cmd make\nrun: *cmd\n", func(c *Config) { c.Build, c.Run = "make", "make" }},
		{"empty domain list is kept", "domains: []\n", func(c *Config) { c.Domains = []string{} }},
		{"null domains stay unset", "domains:\n", func(c *Config) {}},
		{"tagged string", "team: !!str 007\n", func(c *Config) { c.Team = "007" }},
		{"bounds", "replicas: 16\nhealth_timeout: 1h\n", func(c *Config) {
			c.Replicas, c.HealthTimeout = 16, Duration(time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("prosper.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Replicas != 1 || c.HealthTimeout.Duration() != 60*time.Second || c.Verify.Mirror != 100 {
		t.Errorf("Default() = %+v", c)
	}
}

func TestLoad(t *testing.T) {
	t.Run("missing file gives defaults", func(t *testing.T) {
		got, err := Load(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, Default()) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("reads prosper.yaml", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "prosper.yaml"), "health: /healthz\n")
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Health != "/healthz" {
			t.Errorf("Health = %q", got.Health)
		}
	})
	t.Run("errors name the file", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "prosper.yaml"), "replicas: 1\nrun: x\nbuidl: make\n")
		_, err := Load(dir)
		want := `prosper.yaml:3:1: unknown field "buidl" (did you mean "build"?)`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
	t.Run("prosper.yml is refused", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "prosper.yml"), "health: /healthz\n")
		_, err := Load(dir)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "rename") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "prosper.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.HasPrefix(err.Error(), "read prosper.yaml: ") {
			t.Errorf("err = %v", err)
		}
	})
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseVerifyStepsAndGrace(t *testing.T) {
	cfg, err := Parse("prosper.yaml", []byte("verify:\n  grace: 45s\n  steps: [10%, 50%]\n  gates: {p50: x2, p95: +20ms}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Verify.Grace.Duration() != 45*time.Second {
		t.Errorf("grace = %s, want 45s", cfg.Verify.Grace)
	}
	if len(cfg.Verify.Steps) != 2 || cfg.Verify.Steps[0] != 10 || cfg.Verify.Steps[1] != 50 {
		t.Errorf("steps = %v, want [10%% 50%%]", cfg.Verify.Steps)
	}
	if cfg.Verify.Gates["p50"] != "x2" || cfg.Verify.Gates["p95"] != "+20ms" {
		t.Errorf("gates = %v", cfg.Verify.Gates)
	}
}
