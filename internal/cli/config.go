package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/api"
)

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Set, unset and list an app's config vars (its environment); a change makes a new release",
		Example: `  prosper config set shop DATABASE_URL=postgres://db/shop LOG_LEVEL=debug
  prosper config unset shop LOG_LEVEL
  prosper config list shop -o json`,
	}
	cmd.AddCommand(newConfigSetCmd(e), newConfigUnsetCmd(e), newConfigListCmd(e))
	return cmd
}

func jsonBody(v any) (io.Reader, string) {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b), "application/json"
}

func (e *env) changeConfig(cmd *cobra.Command, app string, req api.ConfigRequest) error {
	cl, err := e.apiClient()
	if err != nil {
		return err
	}
	body, ct := jsonBody(req)
	res, err := cl.Stream(cmd.Context(), http.MethodPatch, "/api/apps/"+app+"/config", ct, body, func(l string) {
		fmt.Fprintln(e.stdout, l)
	})
	if err != nil {
		return err
	}
	if res.Release.Version > 0 {
		fmt.Fprintf(e.stdout, "%s v%d is live with the new config\n", app, res.Release.Version)
	}
	return nil
}

func newConfigSetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "set APP KEY=VALUE...",
		Short:   "Set config vars and release them",
		Example: "  prosper config set shop GREETING=hello LOG_LEVEL=debug",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.ConfigRequest{Set: map[string]string{}}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("%q is not KEY=VALUE: write e.g. LOG_LEVEL=debug", kv)
				}
				req.Set[k] = v
			}
			return e.changeConfig(cmd, args[0], req)
		},
	}
}

func newConfigUnsetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "unset APP KEY...",
		Short:   "Remove config vars and release the change",
		Example: "  prosper config unset shop LOG_LEVEL",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.changeConfig(cmd, args[0], api.ConfigRequest{Unset: args[1:]})
		},
	}
}

func newConfigListCmd(e *env) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:     "list APP",
		Short:   "List an app's config vars",
		Example: "  prosper config list shop\n  prosper config list shop -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			vars := map[string]string{}
			if err := e.get(cmd.Context(), "/api/apps/"+args[0]+"/config", &vars); err != nil {
				return err
			}
			if out.json() {
				return writeJSON(e.stdout, vars)
			}
			keys := make([]string, 0, len(vars))
			for k := range vars {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(e.stdout, "%s=%s\n", k, vars[k])
			}
			return nil
		},
	}
	out.bind(cmd)
	return cmd
}
