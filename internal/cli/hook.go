package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/githook"
)

func newHookCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:       "hook pre-receive",
		Short:     "Git's pre-receive hook in an app's repository; the git endpoint runs it",
		Hidden:    true,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"pre-receive"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "pre-receive" {
				return fmt.Errorf("unknown hook %q", args[0])
			}
			env := githook.Env{URL: os.Getenv("PROSPER_HOOK_URL"), Token: os.Getenv("PROSPER_HOOK_TOKEN"),
				App: os.Getenv("PROSPER_APP"), DeployBranch: os.Getenv("PROSPER_DEPLOY_BRANCH")}
			if env.URL == "" || env.App == "" {
				return errors.New("this hook runs only inside a push to prosper's git endpoint")
			}
			err := githook.PreReceive(cmd.Context(), env, e.stdin, e.stdout)
			if errors.Is(err, githook.ErrRejected) {
				return errQuiet
			}
			return err
		},
	}
}
