package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	p := startPlatform(t)
	home := os.Getenv("HOME")
	path := filepath.Join(home, "config", "prosper", "config.json")
	// Nothing in the environment: commands use what login saved.
	t.Setenv("PROSPER_URL", "")
	t.Setenv("PROSPER_TOKEN", "")

	fails(t, []string{"a token is needed", "--token TOKEN"}, "login", p.srv.URL())
	fails(t, []string{"log in to " + p.srv.URL(), "the token is not valid"}, "login", p.srv.URL(), "--token", "prsp_wrong")
	fails(t, []string{"log in to http://127.0.0.1:1", "cannot reach prosper"}, "login", "127.0.0.1:1", "--token", p.token)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a failed login saved credentials: %v", err)
	}
	fails(t, []string{"not logged in"}, "app", "list")

	// A config file that exists, readable by all, is made private on login.
	write(t, path, "{}")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without a scheme and with a trailing slash, as people paste addresses.
	addr := strings.TrimPrefix(p.srv.URL(), "http://") + "/"
	out := ok(t, "login", addr, "--token", p.token)
	if !strings.Contains(out, "logged in to "+p.srv.URL()+" (prosper test-1); saved in "+path) {
		t.Errorf("login prints:\n%s", out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode = %o, want 600", fi.Mode().Perm())
	}
	var saved credentials
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &saved); err != nil || saved.URL != p.srv.URL() || saved.Token != p.token {
		t.Fatalf("saved %s (%v)", b, err)
	}
	if out := ok(t, "app", "list"); !strings.HasPrefix(out, "NAME") {
		t.Errorf("app list after login:\n%s", out)
	}

	// A token from the environment is taken as the flag's default.
	t.Setenv("PROSPER_TOKEN", p.token)
	ok(t, "login", p.srv.URL())
}
