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

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/client"
)

type loginCmd struct {
	token string
}

func newLoginCmd(e *env) *cobra.Command {
	c := &loginCmd{}
	cmd := &cobra.Command{
		Use:   "login URL --token TOKEN",
		Short: "Save the address and token of a prosper control plane",
		Example: `  prosper login http://127.0.0.1:7070 --token "$(cat ~/.local/share/prosper/admin-token)"
  # or, without saving anything:
  export PROSPER_URL=http://127.0.0.1:7070 PROSPER_TOKEN=prsp_...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd.Context(), e, args[0]) },
	}
	cmd.Flags().StringVar(&c.token, "token", os.Getenv("PROSPER_TOKEN"), "API token (the admin token is in DATA_DIR/admin-token)")
	return cmd
}

func (c *loginCmd) run(ctx context.Context, e *env, url string) error {
	if c.token == "" {
		return errors.New("a token is needed: prosper login URL --token TOKEN (the admin token is in DATA_DIR/admin-token)")
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		url = "http://" + url
	}
	url = strings.TrimRight(url, "/")
	cl := &client.Client{URL: url, Token: c.token}
	var info api.Info
	if err := cl.Do(ctx, http.MethodGet, "/api/info", nil, &info); err != nil {
		return fmt.Errorf("log in to %s: %w", url, err)
	}
	path, err := configPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(credentials{URL: url, Token: c.token}, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	// WriteFile keeps the mode of a file that exists; the token must stay private.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	fmt.Fprintf(e.stdout, "logged in to %s (prosper %s); saved in %s\n", url, info.Version, path)
	return nil
}
