package bots

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bots/book-room.yaml": bookRoom,
		"bots/home.yaml":      "steps: [{get: /}]\n",
		"bots/notes.txt":      "not a bot",
		"synthetic/a.yaml":    "name: other\nsteps: [{get: /other}]\n",
	})
	if err := os.Mkdir(filepath.Join(dir, "bots", "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "book a room" || got[0].File != "bots/book-room.yaml" || got[1].Name != "home" {
		t.Errorf("Load(default) = %+v", got)
	}
	got, err = Load(dir, "synthetic/*.yaml")
	if err != nil || len(got) != 1 || got[0].Name != "other" || got[0].File != "synthetic/a.yaml" {
		t.Errorf("Load(synthetic/*.yaml) = %+v, %v", got, err)
	}
	got, err = Load(dir, "none/*.yaml")
	if got != nil || err != nil {
		t.Errorf("Load of no files = %v, %v; want nil, nil", got, err)
	}
	if _, err := Load(dir, "bots/[.yaml"); err == nil {
		t.Error("a malformed glob is not reported")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"bots/a.yaml":    "name: shop\nsteps: [{get: /}]\n",
		"bots/b.yaml":    "stpes: []\n",
		"bots/c.yaml":    "steps:\n  - get: /{{nope}}\n",
		"bots/d.yaml":    "# a comment\nname: shop\nsteps: [{get: /}]\n",
		"bots/fine.yaml": "steps: [{get: /}]\n",
	})
	got, err := Load(dir, "")
	if got != nil || err == nil {
		t.Fatalf("Load = %v, %v; want every error", got, err)
	}
	msg := err.Error()
	for _, want := range []string{
		`bots/b.yaml:1:1: unknown key "stpes" (did you mean "steps"?)`,
		`bots/c.yaml:2:10: unknown variable {{nope}}`,
		`bots/d.yaml:2: bot name "shop" is already used by bots/a.yaml`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors do not hold %q:\n%s", want, msg)
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("joined errors hold no *Error: %v", err)
	}
}

func TestLoadYml(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bots/home.yml": "steps: [{get: /}]\n"})
	_, err := Load(dir, "")
	if err == nil || !strings.Contains(err.Error(), "bots/home.yml: bot files are read from bots/*.yaml") {
		t.Errorf("Load with only a .yml file: %v", err)
	}
}

func TestCostString(t *testing.T) {
	for _, tt := range []struct {
		c    Cost
		want string
	}{{Cost{}, ""}, {Cost{40, "EUR"}, "40 EUR"}, {Cost{0.5, "USD"}, "0.5 USD"}, {Cost{0, "EUR"}, "0 EUR"}} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}
