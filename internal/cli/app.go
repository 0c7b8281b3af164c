package cli

import (
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
)

func newAppCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Create, list and delete apps",
		Example: `  prosper app create shop --team payments
  prosper app list -o json
  prosper app delete shop --yes`,
	}
	cmd.AddCommand(newAppCreateCmd(e), newAppListCmd(e), newAppDeleteCmd(e))
	return cmd
}

func newAppCreateCmd(e *env) *cobra.Command {
	var req api.CreateAppRequest
	var out output
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an app and print its git remote",
		Example: `  prosper app create shop --team payments
  git remote add prosper http://prosper:$(cat ~/.local/share/prosper/admin-token)@127.0.0.1:7070/git/shop.git
  git push prosper main`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			req.Name = args[0]
			var v api.AppView
			if err := cl.Do(cmd.Context(), http.MethodPost, "/api/apps", req, &v); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, v)
			}
			fmt.Fprintf(e.stdout, "created %s\n  git remote: %s\n  url:        %s (after the first push)\n", v.Name, v.GitURL, v.URL)
			fmt.Fprintf(e.stdout, "push with the token as password:\n  git push http://prosper:TOKEN@%s main\n", trimScheme(v.GitURL))
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Team, "team", "", "team that owns the app (for the delivery readings)")
	out.bind(cmd)
	return cmd
}

func trimScheme(u string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}

func newAppListCmd(e *env) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List apps with their live release and state",
		Example: "  prosper app list\n  prosper app list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			var apps []api.AppView
			if err := e.get(cmd.Context(), "/api/apps", &apps); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, apps)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTEAM\tLIVE\tSTATE\tURL")
			for _, a := range apps {
				live := "-"
				if a.LiveRelease > 0 {
					live = fmt.Sprintf("v%d", a.LiveRelease)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, dash(a.Team), live, a.State, a.URL)
			}
			return tw.Flush()
		},
	}
	out.bind(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAppDeleteCmd(e *env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "delete NAME --yes",
		Short:   "Delete an app: its processes, releases, repository and data",
		Example: "  prosper app delete shop --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("this stops %s and deletes its releases, repository and data: run again with --yes", args[0])
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			if err := cl.Do(cmd.Context(), http.MethodDelete, "/api/apps/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}
