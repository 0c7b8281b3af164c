// Package cli is prosper's command line: one file per noun, each command a small
// struct whose flags bind into the request the API takes.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is set at link time: -ldflags "-X github.com/prosperhq/prosper/internal/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// env is what every command shares: where to write and how to reach the API.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// Main runs the CLI and returns the process exit code. Errors are printed once,
// here, on one line.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errQuiet) {
			fmt.Fprintln(stderr, "error: "+err.Error())
		}
		return 1
	}
	return 0
}

// errQuiet fails a command whose explanation has been printed already.
var errQuiet = errors.New("failed")

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "prosper",
		Short: "A DevOps platform in one binary: push code, see it live in seconds, safely",
		Long: `prosper runs your apps: git push builds them without Docker, starts the new release
beside the live one, checks its health, and switches traffic with no dropped request.
Rollback is instant while the previous release is warm.

Start the platform with "prosper up", then create an app and push to it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.AddCommand(
		newUpCmd(e), newNodeCmd(e), newHookCmd(e), newLoginCmd(e), newAppCmd(e), newDeployCmd(e),
		newStatusCmd(e), newReleasesCmd(e), newRollbackCmd(e), newConfigCmd(e), newLogsCmd(e), newVerifyCmd(e), newDORACmd(e), newClusterCmd(e),
		newIncidentCmd(e), newImportCmd(e), newTestsCmd(e), newInstallCmd(e), newImageCmd(e), newRouterCmd(e),
		newVersionCmd(e),
	)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w: see %s --help", err, cmd.CommandPath())
	})
	explainUsageErrors(root)
	return root
}

// explainUsageErrors makes the commands under c say what to type when their
// arguments are wrong: usage is silenced, so cobra's own words ("accepts 1
// arg(s), received 0") would be all the user sees.
func explainUsageErrors(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = runGroup
	}
	if validate := c.Args; validate != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := validate(cmd, args); err != nil {
				return fmt.Errorf("%w: usage: %s", err, cmd.UseLine())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		explainUsageErrors(sub)
	}
}

// runGroup runs a command that only groups others, such as "prosper app". Left
// to cobra, "prosper app crate" prints the help of app and exits 0, so a typo in
// a script goes unnoticed, and an unknown command under the root is told on
// several lines.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return errors.New(msg + ": did you mean " + strings.Join(s, " or ") + "?")
	}
	return errors.New(msg + ": see " + cmd.CommandPath() + " --help")
}

// output is the -o flag of listings.
type output struct {
	format string
}

func (o *output) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "output format: text or json")
}

func (o *output) check() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("output format %q is not known: use -o text or -o json", o.format)
	}
	return nil
}

func (o *output) json() bool { return o.format == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print prosper's version",
		Example: "  prosper version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(e.stdout, "prosper "+version())
			return nil
		},
	}
}
