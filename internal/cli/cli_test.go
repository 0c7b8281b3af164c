package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/server"
	"github.com/prosperhq/prosper/internal/testbin"
)

// prosperBin is the binary the control plane of the tests runs as its node.
var prosperBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &prosperBin)) }

// isolate points every place the CLI reads credentials from into the test's own
// directories, empty, and returns the home directory.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("PROSPER_DATA_DIR", filepath.Join(home, "data"))
	t.Setenv("PROSPER_URL", "")
	t.Setenv("PROSPER_TOKEN", "")
	t.Setenv("PROSPER_LISTEN", "")
	t.Setenv("PROSPER_HTTP", "")
	return home
}

// result is what one run of the CLI did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the CLI in-process.
func run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(""), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// ok runs the CLI and fails the test unless it succeeds.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("prosper %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs the CLI, wants it to fail with one line "error: ..." that contains
// every part of want, and returns that line.
func fails(t *testing.T, want []string, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 1 {
		t.Fatalf("prosper %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if !strings.HasPrefix(line, "error: ") || strings.Contains(line, "\n") {
		t.Errorf("prosper %s: stderr is not one line \"error: ...\":\n%s", strings.Join(args, " "), r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("prosper %s: error %q lacks %q", strings.Join(args, " "), line, w)
		}
	}
	return line
}

// platform is a control plane started in-process, with the CLI's environment
// pointing at it.
type platform struct {
	srv     *server.Server
	dataDir string
	token   string
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	isolate(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		// Runs last: whatever the test left running stops.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.NewClient(dir).Shutdown(ctx)
	})
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Exe: prosperBin,
		Version: "test-1", HealthTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.StopAll(ctx); err != nil {
			t.Errorf("stop all: %v", err)
		}
	})
	tok, err := os.ReadFile(srv.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{srv: srv, dataDir: dir, token: strings.TrimSpace(string(tok))}
	t.Setenv("PROSPER_URL", srv.URL())
	t.Setenv("PROSPER_TOKEN", p.token)
	return p
}

// walk calls fn for c and every command under it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	isolate(t)
	root := newRoot(&env{})
	n := 0
	walk(root, func(c *cobra.Command) {
		if c == root || c.Hidden {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s has no Short", c.CommandPath())
		}
		if !strings.Contains(c.Example, "prosper "+strings.TrimPrefix(c.CommandPath(), "prosper ")) {
			t.Errorf("the Example of %s does not show it:\n%s", c.CommandPath(), c.Example)
		}
		// --help shows the example.
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "prosper")), "--help")
		out := ok(t, args...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, strings.TrimSpace(strings.SplitN(c.Example, "\n", 2)[0])) {
			t.Errorf("prosper %s shows no example:\n%s", strings.Join(args, " "), out)
		}
	})
	if n < 15 {
		t.Errorf("walked %d commands; the tree is not what this test expects", n)
	}
}

func TestUsageErrors(t *testing.T) {
	home := isolate(t)
	// Nothing here may reach a control plane: one that does would be refused.
	t.Setenv("PROSPER_URL", "http://127.0.0.1:1")
	t.Setenv("PROSPER_TOKEN", "prsp_x")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"ap"}, []string{`unknown command "ap" for "prosper"`, "did you mean app"}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`, "prosper --help"}},
		{[]string{"app", "crate", "shop"}, []string{`unknown command "crate" for "prosper app"`, "did you mean create?"}},
		{[]string{"config", "get", "shop"}, []string{`unknown command "get" for "prosper config"`}},
		{[]string{"app", "create"}, []string{"accepts 1 arg(s), received 0", "usage: prosper app create NAME"}},
		{[]string{"releases"}, []string{"usage: prosper releases APP"}},
		{[]string{"app", "list", "--bogus"}, []string{"unknown flag: --bogus", "prosper app list --help"}},
		{[]string{"app", "list", "-o", "yaml"}, []string{`output format "yaml" is not known`, "-o json"}},
		{[]string{"status", "-o", "JSON"}, []string{`output format "JSON"`}},
		{[]string{"releases", "shop", "-o", "table"}, []string{`output format "table"`}},
		{[]string{"config", "list", "shop", "-o", "xml"}, []string{`output format "xml"`}},
		{[]string{"logs", "shop", "-o", "csv"}, []string{`output format "csv"`}},
		{[]string{"config", "set", "shop", "NOEQUALS"}, []string{`"NOEQUALS" is not KEY=VALUE`, "LOG_LEVEL=debug"}},
		{[]string{"config", "set", "shop", "A=1", "=nokey"}, []string{`"=nokey" is not KEY=VALUE`}},
		{[]string{"config", "set", "shop"}, []string{"usage: prosper config set APP KEY=VALUE"}},
		{[]string{"config", "unset", "shop"}, []string{"usage: prosper config unset APP KEY"}},
		{[]string{"rollback", "shop", "vX"}, []string{`release "vX" is not a version`, "v3 or 3"}},
		{[]string{"rollback", "shop", "v0"}, []string{`release "v0" is not a version`}},
		{[]string{"rollback", "shop", "-3"}, []string{"unknown shorthand flag"}},
		{[]string{"logs", "shop", "--release", "latest"}, []string{`release "latest" is not a version`}},
		{[]string{"logs", "shop", "--since", "yesterday"}, []string{"invalid argument", "--since"}},
		{[]string{"app", "delete", "shop"}, []string{"stops shop and deletes", "--yes"}},
		{[]string{"deploy", home}, []string{"which app? pass --app NAME"}},
		{[]string{"deploy", filepath.Join(home, "nope"), "--app", "shop"}, []string{"is not a directory"}},
		{[]string{"deploy", "a", "b", "--app", "shop"}, []string{"usage: prosper deploy"}},
		{[]string{"hook", "pre-receive"}, []string{"only inside a push"}},
		{[]string{"hook", "post-receive"}, []string{`unknown hook "post-receive"`}},
		{[]string{"version", "extra"}, []string{"usage: prosper version"}},
		{[]string{"up", "--listen", "nonsense"}, []string{`--listen "nonsense" is not an address`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fails(t, tt.want, tt.args...)
		})
	}
}

func TestGroupsAndVersion(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{{}, {"app"}, {"config"}} {
		out := ok(t, args...)
		if !strings.Contains(out, "Available Commands:") {
			t.Errorf("prosper %s prints:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := ok(t, "version"); out != "prosper "+version()+"\n" {
		t.Errorf("version prints %q", out)
	}
	if out := ok(t, "--version"); !strings.Contains(out, version()) {
		t.Errorf("--version prints %q", out)
	}
	// The internal commands stay out of the help.
	if out := ok(t, "--help"); strings.Contains(out, "pre-receive") || strings.Contains(out, "  node ") {
		t.Errorf("help lists hidden commands:\n%s", out)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"v3", 3, true}, {"3", 3, true}, {"V12", 12, true},
		{"v0", 0, false}, {"0", 0, false}, {"-1", 0, false}, {"vv3", 0, false}, {"", 0, false}, {"v", 0, false}, {"3.1", 0, false},
	}
	for _, tt := range tests {
		got, err := parseVersion(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseVersion(%q) = %d, %v", tt.in, got, err)
		}
	}
}
