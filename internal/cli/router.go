package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/server"
)

type routerCmd struct {
	nats, http, health, name string
	drain                    time.Duration
}

// newRouterCmd is `prosper router`: a router replica that serves the apps with
// the table of a node started with --nats, and reports to it.
func newRouterCmd(e *env) *cobra.Command {
	c := &routerCmd{}
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run a router replica that serves the apps for a prosper up --nats",
		Long: `Run a router replica: it gets the routing table from the node of "prosper up --nats"
over NATS JetStream, serves the apps on --http exactly as the node's router does
(mirroring included), and reports its per-release counters, latencies and
mirrored exchanges to the control plane once a second. Run two or more behind a
load balancer (on Kubernetes: the chart's router Deployment behind the ingress).

The node's NATS token comes from $PROSPER_NATS_TOKEN (prosper up --nats keeps it
in DATA_DIR/nats-token unless the variable set it). GET /readyz on --health
answers 200 once a table is held; on SIGTERM it answers 503 for --drain while
requests are still served, then requests in flight finish and a last report
says goodbye.`,
		Example: `  PROSPER_NATS_TOKEN=$(cat /var/lib/prosper/nats-token) prosper router --nats nats://10.0.0.5:4222
  prosper router status --data-dir /var/lib/prosper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return node.RunRouter(cmd.Context(), node.RouterConfig{
				NATSURL: c.nats, Token: os.Getenv(node.TokenEnv), HTTPAddr: c.http, HealthAddr: c.health,
				Name: c.name, Drain: c.drain, Logger: logger,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.nats, "nats", os.Getenv("PROSPER_NATS"), "the node's NATS server, nats://HOST:4222 (env PROSPER_NATS)")
	f.StringVar(&c.http, "http", node.DefaultRouterHTTP, "address that serves the apps")
	f.StringVar(&c.health, "health", node.DefaultRouterHealth, "address of GET /healthz and /readyz")
	f.StringVar(&c.name, "name", "", "the replica's name in the control plane's reports (default: the host name, the pod's on Kubernetes)")
	f.DurationVar(&c.drain, "drain", node.DefaultRouterDrain, "how long to keep serving after SIGTERM while /readyz answers 503")
	cmd.AddCommand(newRouterStatusCmd(e))
	return cmd
}

// newRouterStatusCmd is `prosper router status`: the replicas the node hears
// from, asked of the control plane's API, or of the node of this machine with
// --data-dir.
func newRouterStatusCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the router replicas reporting to the control plane, and what is missing of their data",
		Long: `List the router replicas reporting to the control plane's node (prosper up --nats):
their state (reporting, missing: silent for over 3s without a goodbye, left:
stopped cleanly), their last report and lost reports, then what is missing of
their data in the last minute. A replica that vanished is forgotten after a minute.

It asks the control plane's API (prosper login, or PROSPER_URL and PROSPER_TOKEN),
so it works from any machine; --data-dir asks the node of this machine directly,
which works while the control plane is down.`,
		Example: "  prosper router status\n  prosper router status --data-dir /var/lib/prosper",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			if !cmd.Flags().Changed("data-dir") {
				var rs server.Routers
				if err := e.get(ctx, "/api/routers", &rs); err != nil {
					return err
				}
				printRouters(e, rs.Replicas, rs.Missing)
				return nil
			}
			c := node.NewClient(dataDir)
			replicas, err := c.Routers(ctx)
			if err != nil {
				return err
			}
			win, err := c.MetricsWindow(ctx, time.Now().Add(-time.Minute))
			if err != nil {
				return err
			}
			printRouters(e, replicas, win.Missing)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "ask the node of this machine whose data dir this is, not the API")
	return cmd
}

func printRouters(e *env, replicas []router.ReplicaStatus, missing []router.Missing) {
	if len(replicas) == 0 {
		fmt.Fprintln(e.stdout, "no router replica reports to this node")
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tLAST REPORT\tREPORTS\tGAPS\tTABLE\tIN FLIGHT")
		for _, r := range replicas {
			fmt.Fprintf(tw, "%s\t%s\t%s ago\t%d\t%d\t%d\t%d\n", r.Name, r.State,
				time.Since(r.LastReport).Round(100*time.Millisecond), r.Reports, r.Gaps, r.TableRevision, r.InFlight)
		}
		tw.Flush()
	}
	if len(missing) > 0 {
		fmt.Fprintln(e.stdout, "missing data in the last minute:")
		for _, m := range missing {
			fmt.Fprintf(e.stdout, "  %s: %s (since %s)\n", m.Replica, m.Reason, m.From.Local().Format(time.TimeOnly))
		}
	}
}
