package cli

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/runtime"
)

func newStatusCmd(e *env) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show an app's live release, its processes, and why it crash-loops if it does",
		Example: `  prosper status          # every app
  prosper status shop -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			var names []string
			if len(args) == 1 {
				names = args
			} else {
				var apps []api.AppView
				if err := cl.Do(cmd.Context(), http.MethodGet, "/api/apps", nil, &apps); err != nil {
					return err
				}
				for _, a := range apps {
					names = append(names, a.Name)
				}
			}
			views := make([]api.StatusView, 0, len(names))
			for _, n := range names {
				var sv api.StatusView
				if err := cl.Do(cmd.Context(), http.MethodGet, "/api/apps/"+n+"/status", nil, &sv); err != nil {
					return err
				}
				views = append(views, sv)
			}
			if out.json() {
				if len(args) == 1 {
					return writeJSON(e.stdout, views[0])
				}
				return writeJSON(e.stdout, views)
			}
			if len(views) == 0 {
				fmt.Fprintln(e.stdout, "no apps yet: create one with prosper app create NAME")
			}
			for i, sv := range views {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				printStatus(e, sv)
			}
			return nil
		},
	}
	out.bind(cmd)
	return cmd
}

func printStatus(e *env, sv api.StatusView) {
	a := sv.App
	fmt.Fprintf(e.stdout, "%s: %s\n", a.Name, a.State)
	fmt.Fprintf(e.stdout, "  url:   %s\n", a.URL)
	if sv.Live != nil {
		commit := "working tree"
		if sv.Live.Commit != "" {
			commit = "commit " + shortSHA(sv.Live.Commit)
		}
		fmt.Fprintf(e.stdout, "  live:  v%d (%s, %s)\n", sv.Live.Version, commit, sv.Live.Source)
	} else {
		fmt.Fprintf(e.stdout, "  live:  none yet: git push to %s\n", a.GitURL)
	}
	if sv.Deploying != nil {
		what := sv.Deploying.Status
		if what == "verifying" {
			what = "in mirror production; see prosper verify status " + a.Name
		}
		fmt.Fprintf(e.stdout, "  deploying: v%d (%s)\n", sv.Deploying.Version, what)
	}
	if sv.Problem != "" {
		fmt.Fprintf(e.stdout, "  PROBLEM: %s\n", sv.Problem)
	}
	if len(sv.Workloads) == 0 {
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RELEASE\tREPLICA\tSTATE\tADDR\tRESTARTS\tLAST EXIT")
	for _, w := range sv.Workloads {
		for _, r := range w.Replicas {
			fmt.Fprintf(tw, "  v%d%s\t%d\t%s\t%s\t%d\t%s\n", w.Release, role(w.ID), r.Index, r.State, r.Addr, r.Restarts, dash(r.LastExit))
		}
	}
	tw.Flush()
	for _, w := range sv.Workloads {
		for _, r := range w.Replicas {
			if r.Restarts > 0 && len(r.StderrTail) > 0 && !r.Healthy {
				fmt.Fprintf(e.stdout, "  last stderr of v%d replica %d:\n    %s\n", w.Release, r.Index, strings.Join(r.StderrTail, "\n    "))
			}
		}
	}
}

// role names the part a verification's workload plays: a candidate on its own
// data, or the control instance of the live release.
func role(id string) string {
	switch {
	case strings.HasSuffix(id, runtime.CandidateSuffix):
		return " (candidate)"
	case strings.HasSuffix(id, runtime.ControlSuffix):
		return " (control)"
	}
	return ""
}

func shortSHA(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}
