package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prosperhq/prosper/internal/kubebuild"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/server"
)

type upCmd struct {
	dataDir, listen, http string
	store, domain         string
	nats                  string
	warm, healthTimeout   time.Duration
	keepReleases          int
	logMaxAge             logAgeFlag
	envErr                error // a bad PROSPER_LOG_MAX_AGE, told unless the flag overrides it
	kube                  kubeFlags
}

// kubeFlags are the flags that run the apps on Kubernetes, shared by up and
// node.
type kubeFlags struct {
	kubeconfig, registry, pull string
	insecure                   bool
	bases                      []string // KIND=REF, over kubebuild.DefaultBases
}

func (k *kubeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubernetes", os.Getenv("PROSPER_KUBERNETES"), "run the apps on the Kubernetes cluster of this kubeconfig file (\"in-cluster\" inside a pod) instead of as processes here (env PROSPER_KUBERNETES)")
	f.StringVar(&k.registry, "registry", os.Getenv("PROSPER_REGISTRY"), "with --kubernetes: the HOST[:PORT] release images are pushed to (env PROSPER_REGISTRY)")
	f.StringVar(&k.pull, "registry-pull", "", "with --kubernetes: the registry as the cluster's nodes name it, when not --registry")
	f.BoolVar(&k.insecure, "registry-insecure", false, "with --kubernetes: push over plain HTTP (a loopback registry always is)")
	var bases []string
	if v := os.Getenv("PROSPER_IMAGE_BASE"); v != "" {
		bases = strings.Split(v, ",")
	}
	f.StringSliceVar(&k.bases, "image-base", bases, "with --kubernetes: the base image apps of a kind are built in and run on, as KIND=IMAGE "+
		"(node, python; repeatable), such as node=registry.example.com/mirror/node:22-bookworm-slim (env PROSPER_IMAGE_BASE, comma-separated)")
}

// config is the node's Kubernetes configuration, nil without --kubernetes.
func (k *kubeFlags) config() (*node.KubeConfig, error) {
	if k.kubeconfig == "" {
		if k.registry != "" {
			return nil, fmt.Errorf("--registry is for --kubernetes: add --kubernetes KUBECONFIG, or drop --registry")
		}
		if len(k.bases) > 0 {
			return nil, fmt.Errorf("--image-base is for --kubernetes: add --kubernetes KUBECONFIG, or drop --image-base")
		}
		return nil, nil
	}
	bases, err := kubebuild.ParseBases(k.bases)
	if err != nil {
		return nil, err
	}
	if k.registry == "" {
		return nil, fmt.Errorf("--kubernetes needs --registry HOST[:PORT]: the registry release images are pushed to and the cluster pulls from")
	}
	path := k.kubeconfig
	if path == "in-cluster" {
		path = ""
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--kubernetes %s: %w", path, err)
	}
	return &node.KubeConfig{Kubeconfig: path, Registry: k.registry, PullRegistry: k.pull, Insecure: k.insecure, ImageBases: bases}, nil
}

func newUpCmd(e *env) *cobra.Command {
	c := &upCmd{logMaxAge: logAgeFlag(node.DefaultLogMaxAge)}
	if v := os.Getenv("PROSPER_LOG_MAX_AGE"); v != "" {
		if err := c.logMaxAge.Set(v); err != nil {
			c.envErr = fmt.Errorf("PROSPER_LOG_MAX_AGE: %w", err)
		}
	}
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
  prosper up --data-dir /var/lib/prosper --listen 0.0.0.0:7070 --http 0.0.0.0:80
  prosper up --log-max-age 30d
  prosper up --kubernetes ~/.kube/config --registry registry.example.com:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.envErr != nil && !cmd.Flags().Changed("log-max-age") {
				return c.envErr
			}
			return c.run(cmd.Context(), e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", defaultDataDir(), "where state, repositories and releases live (env PROSPER_DATA_DIR)")
	f.StringVar(&c.listen, "listen", defaultListen(), "address of the API, web UI and git endpoint (env PROSPER_LISTEN)")
	f.StringVar(&c.http, "http", envOr("PROSPER_HTTP", "127.0.0.1:8080"), "address of the router that serves the apps (env PROSPER_HTTP)")
	f.StringVar(&c.store, "store", os.Getenv("PROSPER_STORE"), "where the state lives: empty for DATA_DIR/prosper.db (SQLite), or postgres://USER:PASSWORD@HOST/DB (env PROSPER_STORE)")
	f.StringVar(&c.domain, "domain", envOr("PROSPER_DOMAIN", "localhost"), "apps answer at NAME.DOMAIN (env PROSPER_DOMAIN); point *.DOMAIN at the router")
	f.DurationVar(&c.warm, "warm", 10*time.Minute, "how long a replaced release keeps running so that rollback to it is instant")
	f.IntVar(&c.keepReleases, "keep-releases", 10, "how many of each app's newest releases keep their files for rollback")
	f.DurationVar(&c.healthTimeout, "health-timeout", 60*time.Second, "how long a new release may take to become healthy (prosper.yaml health_timeout wins)")
	f.Var(&c.logMaxAge, "log-max-age", "how long the apps' logs are kept after their last line, e.g. 7d or 36h; 0 keeps them whatever their age (env PROSPER_LOG_MAX_AGE)")
	f.StringVar(&c.nats, "nats", os.Getenv("PROSPER_NATS"), "run a NATS server (JetStream) on this address, e.g. 0.0.0.0:4222, for router replicas (prosper router) to get the routes from and report to; empty: none (env PROSPER_NATS)")
	c.kube.add(f)
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
	kube, err := c.kube.config()
	if err != nil {
		return err
	}
	warm := c.warm
	if warm == 0 {
		warm = -1 // server.Config reads zero as "the default"
	}
	srv, err := server.New(server.Config{
		DataDir: c.dataDir, Listen: c.listen, HTTPAddr: c.http, Warm: warm,
		HealthTimeout: c.healthTimeout, KeepReleases: c.keepReleases, Version: version(), Logger: logger,
		LogMaxAge: time.Duration(c.logMaxAge), Store: c.store, Kube: kube, Domain: c.domain, NATS: c.nats,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `prosper %s is up
  API and UI:   %s
  router:       %s   (apps answer at http://NAME.%s:PORT)
  admin token:  %s
Next: prosper app create NAME, then git push to the remote it prints. Ctrl-C stops.
`, version(), srv.URL(), srv.RouterURL(), c.domain, srv.AdminTokenPath())
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping prosper: apps and router too (they resume on the next prosper up)")
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.StopAll(stopCtx)
}

type nodeCmd struct {
	dataDir, http string
	nats          string
	logMaxAge     logAgeFlag
	kube          kubeFlags
}

func newNodeCmd(e *env) *cobra.Command {
	c := &nodeCmd{logMaxAge: logAgeFlag(node.DefaultLogMaxAge)}
	cmd := &cobra.Command{
		Use:    "node",
		Short:  "Run the data plane (router and app processes); prosper up starts it",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := slog.New(slog.NewTextHandler(e.stderr, nil))
			kube, err := c.kube.config()
			if err != nil {
				return err
			}
			return node.Run(cmd.Context(), node.Config{
				DataDir: c.dataDir, HTTPAddr: c.http, Logger: logger, LogMaxAge: time.Duration(c.logMaxAge), Kube: kube,
				NATSAddr: c.nats,
			})
		},
	}
	cmd.Flags().StringVar(&c.dataDir, "data-dir", defaultDataDir(), "the platform's data dir")
	cmd.Flags().StringVar(&c.http, "http", "127.0.0.1:8080", "router address")
	cmd.Flags().Var(&c.logMaxAge, "log-max-age", "how long the apps' logs are kept after their last line; 0: no limit")
	cmd.Flags().StringVar(&c.nats, "nats", "", "run a NATS server on this address for router replicas")
	c.kube.add(cmd.Flags())
	return cmd
}

// minLogMaxAge is the shortest --log-max-age: logs are swept every minute, and
// a shorter age would delete an idle app's log before anyone could read it.
const minLogMaxAge = time.Minute

// logAgeFlag is --log-max-age: days (7d) or a Go duration (36h), and 0 for no
// limit by age. Its value is what node.Config.LogMaxAge takes: positive, or
// negative for no limit.
type logAgeFlag time.Duration

func (f *logAgeFlag) String() string {
	d := time.Duration(*f)
	switch {
	case d < 0:
		return "0"
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Set reads an age; it leaves f unchanged when s is not one.
func (f *logAgeFlag) Set(s string) error {
	d, err := parseLogAge(s)
	if err != nil {
		return err
	}
	*f = logAgeFlag(d)
	return nil
}

func (f *logAgeFlag) Type() string { return "age" }

// parseLogAge reads a log age as logAgeFlag describes it.
func parseLogAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, aerr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, aerr
		if aerr == nil && (n < 0 || n > 100*365) {
			err = fmt.Errorf("out of range")
		}
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not an age: write days like 7d or a duration like 36h, or 0 to keep logs whatever their age", s)
	case d == 0:
		return -1, nil // no limit by age
	case d < 0:
		return 0, fmt.Errorf("%q is negative: write days like 7d, or 0 to keep logs whatever their age", s)
	case d < minLogMaxAge:
		return 0, fmt.Errorf("%q is too short: logs would be deleted as soon as an app is quiet; keep them at least %s", s, minLogMaxAge)
	}
	return d, nil
}
