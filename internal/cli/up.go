package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/server"
)

type upCmd struct {
	dataDir, listen, http string
	warm, healthTimeout   time.Duration
	keepReleases          int
}

func newUpCmd(e *env) *cobra.Command {
	c := &upCmd{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the platform on this machine",
		Long: `Run the platform on this machine: the API, web UI and git endpoint on --listen, the
router that serves your apps on --http, state in an SQLite database in --data-dir.
Nothing else needs to be installed but git and the toolchains your apps build with.

The router and the apps run in a separate process that keeps serving if this one
dies; Ctrl-C stops everything cleanly, and the next "prosper up" resumes every app
with its live release.`,
		Example: `  prosper up
  prosper up --data-dir /var/lib/prosper --listen 0.0.0.0:7070 --http 0.0.0.0:80`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd.Context(), e) },
	}
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", defaultDataDir(), "where state, repositories and releases live (env PROSPER_DATA_DIR)")
	f.StringVar(&c.listen, "listen", defaultListen(), "address of the API, web UI and git endpoint (env PROSPER_LISTEN)")
	f.StringVar(&c.http, "http", envOr("PROSPER_HTTP", "127.0.0.1:8080"), "address of the router that serves the apps (env PROSPER_HTTP)")
	f.DurationVar(&c.warm, "warm", 10*time.Minute, "how long a replaced release keeps running so that rollback to it is instant")
	f.IntVar(&c.keepReleases, "keep-releases", 10, "how many of each app's newest releases keep their files for rollback")
	f.DurationVar(&c.healthTimeout, "health-timeout", 60*time.Second, "how long a new release may take to become healthy (prosper.yaml health_timeout wins)")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (c *upCmd) run(ctx context.Context, e *env) error {
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	warm := c.warm
	if warm == 0 {
		warm = -1 // server.Config reads zero as "the default"
	}
	srv, err := server.New(server.Config{
		DataDir: c.dataDir, Listen: c.listen, HTTPAddr: c.http, Warm: warm,
		HealthTimeout: c.healthTimeout, KeepReleases: c.keepReleases, Version: version(), Logger: logger,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `prosper %s is up
  API and UI:   %s
  router:       %s   (apps answer at http://NAME.localhost:PORT)
  admin token:  %s
Next: prosper app create NAME, then git push to the remote it prints. Ctrl-C stops.
`, version(), srv.URL(), srv.RouterURL(), srv.AdminTokenPath())
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping prosper: apps and router too (they resume on the next prosper up)")
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.StopAll(stopCtx)
}

type nodeCmd struct {
	dataDir, http string
}

func newNodeCmd(e *env) *cobra.Command {
	c := &nodeCmd{}
	cmd := &cobra.Command{
		Use:    "node",
		Short:  "Run the data plane (router and app processes); prosper up starts it",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := slog.New(slog.NewTextHandler(e.stderr, nil))
			return node.Run(cmd.Context(), node.Config{DataDir: c.dataDir, HTTPAddr: c.http, Logger: logger})
		},
	}
	cmd.Flags().StringVar(&c.dataDir, "data-dir", defaultDataDir(), "the platform's data dir")
	cmd.Flags().StringVar(&c.http, "http", "127.0.0.1:8080", "router address")
	return cmd
}
