package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/dora"
)

func newDORACmd(e *env) *cobra.Command {
	var out output
	var app, team, since string
	cmd := &cobra.Command{
		Use:   "dora [--app A | --team T] [--since 90d]",
		Short: "Show the five DORA metrics, live from what prosper did, with their buckets and trend",
		Long: `The five DORA metrics of an app, a team or everything, over a window, computed from
prosper's own event log: deployment frequency, lead time for changes, change failure
rate, failed-deployment recovery time and deployment rework rate, each with its
performance bucket (DORA 2023 report), and the releases mirror production caught
before they reached users.`,
		Example: `  prosper dora
  prosper dora --app shop --since 30d
  prosper dora --team payments -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if app != "" && team != "" {
				return errors.New("pass --app or --team, not both")
			}
			q := url.Values{"since": {since}}
			if app != "" {
				q.Set("app", app)
			}
			if team != "" {
				q.Set("team", team)
			}
			var m dora.Metrics
			if err := e.get(cmd.Context(), "/api/dora?"+q.Encode(), &m); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, m)
			}
			return printDORA(e.stdout, m)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "one app")
	cmd.Flags().StringVar(&team, "team", "", "the apps of one team")
	cmd.Flags().StringVar(&since, "since", "90d", "the window: 90d, 2w, 36h ...")
	out.bind(cmd)
	return cmd
}

func printDORA(w io.Writer, m dora.Metrics) error {
	scope := "all apps"
	switch {
	case m.Scope.App != "":
		scope = "app " + m.Scope.App
	case m.Scope.Team != "":
		scope = "team " + m.Scope.Team
	}
	fmt.Fprintf(w, "%s, %s to %s: %d deployments, %d releases caught before production by mirror production\n\n",
		scope, m.Window.From.Local().Format(time.DateOnly), m.Window.To.Local().Format(time.DateOnly), m.Deployments, m.CaughtBeforeProduction)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tVALUE\tBUCKET")
	fmt.Fprintf(tw, "deployment frequency\t%.2f per day\t%s\n", m.DeploymentFrequency.PerDay, m.DeploymentFrequency.Bucket)
	fmt.Fprintf(tw, "lead time for changes\tmedian %s, p90 %s (%d commits)\t%s\n", human(m.LeadTime.MedianSeconds), human(m.LeadTime.P90Seconds), m.LeadTime.Samples, m.LeadTime.Bucket)
	fmt.Fprintf(tw, "change failure rate\t%.1f%% (%d failed)\t%s\n", m.ChangeFailureRate.Value*100, m.ChangeFailureRate.Failed, m.ChangeFailureRate.Bucket)
	fmt.Fprintf(tw, "recovery time\tmedian %s (%d recoveries)\t%s\n", human(m.RecoveryTime.MedianSeconds), m.RecoveryTime.Recoveries, m.RecoveryTime.Bucket)
	fmt.Fprintf(tw, "deployment rework rate\t%.1f%% (%d)\t\n", m.ReworkRate.Value*100, m.ReworkRate.Rework)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Trend) > 1 {
		fmt.Fprintln(w, "\nTrend:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FROM\tDEPLOYS\tLEAD TIME\tFAILURE RATE\tRECOVERY\tCAUGHT")
		for _, p := range m.Trend {
			fmt.Fprintf(tw, "%s\t%d %s\t%s\t%.0f%%\t%s\t%d\n", p.From.Local().Format(time.DateOnly), p.Deployments, bar(p.Deployments),
				human(p.LeadTimeMedianSeconds), p.ChangeFailureRate*100, human(p.RecoveryMedianSeconds), p.CaughtBeforeProduction)
		}
		return tw.Flush()
	}
	return nil
}

// human writes seconds as a person reads a duration.
func human(s float64) string {
	if s <= 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

func bar(n int) string { return strings.Repeat("▇", min(n, 30)) }
