package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prosperhq/prosper/internal/client"
)

// credentials is what `prosper login` saves.
type credentials struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

func configPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the config dir: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "prosper", "config.json"), nil
}

// defaultDataDir is where `prosper up` keeps its state unless told otherwise.
func defaultDataDir() string {
	if d := os.Getenv("PROSPER_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "prosper")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".prosper"
	}
	return filepath.Join(home, ".local", "share", "prosper")
}

func defaultListen() string {
	if a := os.Getenv("PROSPER_LISTEN"); a != "" {
		return a
	}
	return "127.0.0.1:7070"
}

// apiClient finds how to reach the control plane: PROSPER_URL and PROSPER_TOKEN,
// else what `prosper login` saved, else the platform `prosper up` runs on this
// machine with its admin token.
func (e *env) apiClient() (*client.Client, error) {
	url, token := os.Getenv("PROSPER_URL"), os.Getenv("PROSPER_TOKEN")
	if url != "" && token != "" {
		return &client.Client{URL: url, Token: token}, nil
	}
	if path, err := configPath(); err == nil {
		if b, err := os.ReadFile(path); err == nil {
			var c credentials
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("%s is not valid JSON (%v): run prosper login again", path, err)
			}
			// The saved token belongs to the saved URL: it is not sent to
			// another control plane that PROSPER_URL names.
			if token == "" && (url == "" || sameURL(url, c.URL)) {
				token = c.Token
			}
			if url == "" {
				url = c.URL
			}
		}
	}
	if url == "" {
		url = "http://" + defaultListen()
	}
	if token == "" {
		b, err := os.ReadFile(filepath.Join(defaultDataDir(), "admin-token"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("not logged in: run prosper login URL --token TOKEN, or set PROSPER_URL and PROSPER_TOKEN")
		}
		if err != nil {
			return nil, fmt.Errorf("read the admin token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &client.Client{URL: url, Token: token}, nil
}

func sameURL(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// get reads one JSON resource of the API into v.
func (e *env) get(ctx context.Context, path string, v any) error {
	cl, err := e.apiClient()
	if err != nil {
		return err
	}
	return cl.Do(ctx, http.MethodGet, path, nil, v)
}
