package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/server"
	"github.com/prosperhq/prosper/internal/store"
)

func newIncidentCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Open, resolve and list incidents: the times production was broken",
		Long: `prosper opens incidents itself (a rollback after a promotion, a live release that
crash-loops) and you open the others by hand. Each is linked to the release that
caused it and the one that resolved it; the delivery readings (change failure rate,
recovery time) count them.`,
		Example: `  prosper incident open shop --title "checkout answers 500" --release v7
  prosper incident resolve 12 --by v8
  prosper incident list --open`,
	}
	cmd.AddCommand(newIncidentOpenCmd(e), newIncidentResolveCmd(e), newIncidentListCmd(e))
	return cmd
}

func newIncidentOpenCmd(e *env) *cobra.Command {
	var req server.IncidentRequest
	var release string
	cmd := &cobra.Command{
		Use:   "open APP --title TEXT",
		Short: "Open an incident of an app by hand",
		Example: `  prosper incident open shop --title "checkout answers 500"
  prosper incident open shop --title "slow search" --release v7 --details "p99 4s since 14:02"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.App = args[0]
			if strings.TrimSpace(req.Title) == "" {
				return fmt.Errorf("say what is broken with --title, e.g. --title \"checkout answers 500\"")
			}
			if release != "" {
				v, err := parseVersion(release)
				if err != nil {
					return err
				}
				req.Release = v
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			var in store.Incident
			if err := cl.Do(cmd.Context(), http.MethodPost, "/api/incidents", req, &in); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "incident %d of %s opened: %s\nresolve it with: prosper incident resolve %d --by vN\n", in.ID, in.App, in.Title, in.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Title, "title", "", "what is broken (required)")
	cmd.Flags().StringVar(&release, "release", "", "the release that caused it, e.g. v7")
	cmd.Flags().StringVar(&req.Details, "details", "", "anything else worth knowing")
	return cmd
}

func newIncidentResolveCmd(e *env) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:     "resolve ID",
		Short:   "Resolve an open incident, naming the release that resolved it",
		Example: "  prosper incident resolve 12\n  prosper incident resolve 12 --by v8",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
			if err != nil || id < 1 {
				return fmt.Errorf("incident %q is not an incident number: see them with prosper incident list", args[0])
			}
			var req server.ResolveIncidentRequest
			if by != "" {
				if req.ResolvedBy, err = parseVersion(by); err != nil {
					return err
				}
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			var in store.Incident
			if err := cl.Do(cmd.Context(), http.MethodPost, "/api/incidents/"+strconv.FormatInt(id, 10)+"/resolve", req, &in); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "incident %d of %s resolved after %s", in.ID, in.App, lasted(in))
			if in.ResolvedBy > 0 {
				fmt.Fprintf(e.stdout, ", by v%d", in.ResolvedBy)
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "the release that resolved it, e.g. v8")
	return cmd
}

func newIncidentListCmd(e *env) *cobra.Command {
	var out output
	var app, since string
	var open bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List incidents, newest first",
		Example: "  prosper incident list\n  prosper incident list --app shop --open --since 30d -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			q := url.Values{}
			if app != "" {
				q.Set("app", app)
			}
			if open {
				q.Set("open", "true")
			}
			if since != "" {
				if _, err := api.ParseWindow(since); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				q.Set("since", since)
			}
			path := "/api/incidents"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var list []store.Incident
			if err := e.get(cmd.Context(), path, &list); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, list)
			}
			return printIncidents(e.stdout, list)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app's incidents")
	cmd.Flags().BoolVar(&open, "open", false, "only the incidents not resolved yet")
	cmd.Flags().StringVar(&since, "since", "", "only those opened in this past period, e.g. 30d, 2w, 12h")
	out.bind(cmd)
	return cmd
}

func printIncidents(w io.Writer, list []store.Incident) error {
	if len(list) == 0 {
		fmt.Fprintln(w, "no incidents")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tSTATE\tCAUSE\tCAUSED BY\tRESOLVED BY\tOPENED\tLASTED\tTITLE")
	for _, in := range list {
		state := "resolved"
		if in.ResolvedAt == nil {
			state = "OPEN"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.App, state, in.Cause, version0(in.Release),
			version0(in.ResolvedBy), in.OpenedAt.Local().Format(time.DateTime), lasted(in), in.Title)
	}
	return tw.Flush()
}

// lasted is how long an incident lasted, or has lasted so far.
func lasted(in store.Incident) string {
	end := time.Now()
	if in.ResolvedAt != nil {
		end = *in.ResolvedAt
	}
	d := end.Sub(in.OpenedAt)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func version0(v int) string {
	if v == 0 {
		return "-"
	}
	return "v" + strconv.Itoa(v)
}
