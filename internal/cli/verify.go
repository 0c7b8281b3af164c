package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/rollout"
)

func newVerifyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Watch and steer mirror production: the verification of a new release",
		Long: `A new release first runs in mirror production: it gets a copy of the live
traffic and of the bot journeys, on its own copy of the data, and its answers
are compared with the live release's. The gates decide: PROMOTED or REJECTED.
These commands show a verification and let a person decide instead.`,
		Example: `  prosper verify status shop
  prosper verify promote shop`,
	}
	cmd.AddCommand(newVerifyStatusCmd(e))
	for _, c := range []struct{ name, short string }{
		{rollout.VerifyPause, "Hold the verdict: mirroring goes on, the window's clock stops"},
		{rollout.VerifyResume, "Let a paused verification run to its verdict"},
		{rollout.VerifyPromote, "Promote the candidate now, whatever the gates say"},
		{rollout.VerifyAbort, "Reject the candidate now; the live release stays"},
	} {
		cmd.AddCommand(newVerifyActionCmd(e, c.name, c.short))
	}
	return cmd
}

func newVerifyActionCmd(e *env, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:     action + " APP",
		Short:   short,
		Example: "  prosper verify " + action + " shop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			if err := cl.Do(cmd.Context(), http.MethodPost, "/api/apps/"+args[0]+"/verify/"+action, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s sent to the verification in progress; follow it with: prosper verify status %s\n", args[0], action, args[0])
			return nil
		},
	}
}

func newVerifyStatusCmd(e *env) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:     "status APP",
		Short:   "Show the verification in progress, or the last verdict, gate by gate",
		Example: "  prosper verify status shop\n  prosper verify status shop -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			var rep rollout.Report
			if err := e.get(cmd.Context(), "/api/apps/"+args[0]+"/verify", &rep); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, rep)
			}
			return printReport(e.stdout, rep)
		},
	}
	out.bind(cmd)
	return cmd
}

// printReport shows a verification for a person: state, gates, differences
// with an example, bots and reasons.
func printReport(w io.Writer, rep rollout.Report) error {
	fmt.Fprintf(w, "%s v%d against live v%d: %s", rep.App, rep.Candidate, rep.Live, strings.ToUpper(rep.State))
	if rep.DecidedBy == "hand" {
		fmt.Fprint(w, " (by hand)")
	}
	fmt.Fprintf(w, "\n%.0fs of a %.0fs window · %s of live traffic mirrored · %d requests compared, %d differ\n\n",
		rep.ElapsedSeconds, rep.WindowSeconds, appconfig.Percent(rep.MirrorPercent), rep.Differences.Total, rep.Differences.Differing)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GATE\tLIVE\tCANDIDATE\tTHRESHOLD\tRESULT")
	for _, g := range rep.Verdict.Gates {
		result := "pass"
		switch {
		case g.Skipped:
			result = "not judged"
		case !g.Passed:
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Name, dash(g.Live), g.Candidate, g.Threshold, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ep := range rep.Differences.Endpoints {
		if ep.Differing == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: %d of %d answers differ\n", ep.Endpoint, ep.Differing, ep.Total)
		for _, p := range ep.Paths {
			fmt.Fprintf(w, "  %s (%s) in %d: live %s, candidate %s\n", p.Path, p.Kind, p.Count, p.Live, p.Candidate)
		}
		if len(ep.Examples) > 0 {
			ex := ep.Examples[0]
			fmt.Fprintf(w, "  example: %s %s\n    live      %d %s\n    candidate %d %s\n", ex.Request.Method, ex.Request.Path,
				ex.Live.Status, oneLine(ex.Live.Body), ex.Candidate.Status, oneLine(ex.Candidate.Body))
		}
	}
	if len(rep.Figures.Bots) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BOT JOURNEY\tLIVE\tCANDIDATE\tFIRST FAILURE")
		for _, b := range rep.Figures.Bots {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\t%s\n", b.Scenario, b.LiveRuns-b.LiveFailures, b.LiveRuns,
				b.CandidateRuns-b.CandidateFails, b.CandidateRuns, dash(b.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Verdict.Reasons) > 0 {
		fmt.Fprintln(w, "\nReasons:")
		for _, r := range rep.Verdict.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
