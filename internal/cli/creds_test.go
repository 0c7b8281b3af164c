package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAPIClientCredentials(t *testing.T) {
	const (
		saved = `{"url": "http://saved.example:7070", "token": "prsp_saved"}`
		admin = "prsp_admin\n"
	)
	tests := []struct {
		name       string
		url, token string // PROSPER_URL, PROSPER_TOKEN
		listen     string // PROSPER_LISTEN
		config     string // saved by prosper login; "" for none
		adminToken string // DATA_DIR/admin-token; "" for none
		wantURL    string
		wantToken  string
		wantErr    []string
	}{
		{name: "environment wins", url: "http://env:1", token: "prsp_env", config: saved, adminToken: admin,
			wantURL: "http://env:1", wantToken: "prsp_env"},
		{name: "saved login", config: saved, adminToken: admin,
			wantURL: "http://saved.example:7070", wantToken: "prsp_saved"},
		{name: "token from the environment, URL saved", token: "prsp_env", config: saved,
			wantURL: "http://saved.example:7070", wantToken: "prsp_env"},
		{name: "URL from the environment is the saved one", url: "http://saved.example:7070/", config: saved,
			wantURL: "http://saved.example:7070/", wantToken: "prsp_saved"},
		{name: "saved token is not sent to another URL", url: "http://other:1", config: saved, adminToken: admin,
			wantURL: "http://other:1", wantToken: "prsp_admin"},
		{name: "saved token is not sent to another URL, no admin token", url: "http://other:1", config: saved,
			wantErr: []string{"not logged in", "prosper login URL --token TOKEN", "PROSPER_TOKEN"}},
		{name: "local platform", adminToken: admin,
			wantURL: "http://127.0.0.1:7070", wantToken: "prsp_admin"},
		{name: "local platform on PROSPER_LISTEN", listen: "127.0.0.1:9999", adminToken: admin + "\n\n",
			wantURL: "http://127.0.0.1:9999", wantToken: "prsp_admin"},
		{name: "nothing at all", wantErr: []string{"not logged in"}},
		{name: "saved login is not JSON", config: "url=x", adminToken: admin,
			wantErr: []string{"config.json is not valid JSON", "run prosper login again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolate(t)
			t.Setenv("PROSPER_URL", tt.url)
			t.Setenv("PROSPER_TOKEN", tt.token)
			t.Setenv("PROSPER_LISTEN", tt.listen)
			if tt.config != "" {
				write(t, filepath.Join(home, "config", "prosper", "config.json"), tt.config)
			}
			if tt.adminToken != "" {
				write(t, filepath.Join(home, "data", "admin-token"), tt.adminToken)
			}
			cl, err := (&env{}).apiClient()
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("apiClient = %+v, want an error", cl)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cl.URL != tt.wantURL || cl.Token != tt.wantToken {
				t.Errorf("apiClient = %s %s, want %s %s", cl.URL, cl.Token, tt.wantURL, tt.wantToken)
			}
		})
	}
}

func TestDefaultDataDir(t *testing.T) {
	home := isolate(t)
	t.Setenv("PROSPER_DATA_DIR", "")
	if got := defaultDataDir(); got != filepath.Join(home, ".local", "share", "prosper") {
		t.Errorf("with HOME only: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if got := defaultDataDir(); got != "/xdg/data/prosper" {
		t.Errorf("with XDG_DATA_HOME: %s", got)
	}
	t.Setenv("PROSPER_DATA_DIR", "/srv/prosper")
	if got := defaultDataDir(); got != "/srv/prosper" {
		t.Errorf("with PROSPER_DATA_DIR: %s", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	if got, err := configPath(); err != nil || got != filepath.Join(home, ".config", "prosper", "config.json") {
		t.Errorf("configPath without XDG_CONFIG_HOME = %s, %v", got, err)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
