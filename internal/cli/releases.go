package cli

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
	"github.com/prosperhq/prosper/internal/store"
)

func newReleasesCmd(e *env) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:     "releases APP",
		Short:   "List an app's releases, newest first, with why failed ones failed",
		Example: "  prosper releases shop\n  prosper releases shop -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			var rels []store.Release
			if err := e.get(cmd.Context(), "/api/apps/"+args[0]+"/releases", &rels); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, rels)
			}
			if len(rels) == 0 {
				fmt.Fprintf(e.stdout, "%s has no releases yet: git push or prosper deploy --app %s\n", args[0], args[0])
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTATUS\tSOURCE\tCOMMIT\tCREATED\tNOTE")
			for _, r := range rels {
				note := strings.Join(r.Reasons, "; ")
				if len(note) > 100 {
					note = note[:97] + "..."
				}
				fmt.Fprintf(tw, "v%d\t%s\t%s\t%s\t%s\t%s\n", r.Version, r.Status, r.Source, dash(shortSHA(r.Commit)),
					r.CreatedAt.Local().Format(time.DateTime), note)
			}
			return tw.Flush()
		},
	}
	out.bind(cmd)
	return cmd
}

// parseVersion reads "v3" or "3".
func parseVersion(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("release %q is not a version: use v3 or 3", s)
	}
	return n, nil
}

func newRollbackCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback APP [vN]",
		Short: "Make an earlier release live again, instantly while it is warm",
		Example: `  prosper rollback shop        # to the release live before the current one
  prosper rollback shop v3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.RollbackRequest
			if len(args) == 2 {
				v, err := parseVersion(args[1])
				if err != nil {
					return err
				}
				req.Version = v
			}
			cl, err := e.apiClient()
			if err != nil {
				return err
			}
			body, contentType := jsonBody(req)
			res, err := cl.Stream(cmd.Context(), http.MethodPost, "/api/apps/"+args[0]+"/rollback", contentType, body, func(l string) {
				fmt.Fprintln(e.stdout, l)
			})
			if err != nil {
				return err
			}
			how := "after a fresh start"
			if res.Instant {
				how = "instantly (it was warm)"
			}
			fmt.Fprintf(e.stdout, "%s is back on v%d, %s: %s\n", res.Release.App, res.Release.Version, how, res.URL)
			return nil
		},
	}
	return cmd
}
