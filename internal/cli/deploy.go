package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/build"
)

type deployCmd struct {
	app    string
	watch  bool
	expect []string
}

func newDeployCmd(e *env) *cobra.Command {
	c := &deployCmd{}
	cmd := &cobra.Command{
		Use:   "deploy [DIR] --app NAME",
		Short: "Build and release a working tree without git",
		Long: `Send the files of DIR (default: the current directory) to prosper, which builds them
into a new release, verifies it in mirror production against the live release
(when there is one) and switches traffic to it. The live release is untouched if
anything fails or the verdict is REJECTED. .git and .prosper are not sent, nor
what .prosperignore lists. --watch shows the build output as it happens.
--expect-change names endpoints whose answers this release changes on purpose:
their differences are reported but do not reject it.`,
		Example: `  prosper deploy --app shop
  prosper deploy ./examples/go-notes --app notes --watch
  prosper deploy --app notes --expect-change "GET /"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return c.run(cmd.Context(), e, dir)
		},
	}
	cmd.Flags().StringVar(&c.app, "app", "", "the app to deploy (required)")
	cmd.Flags().BoolVar(&c.watch, "watch", false, "show the build output as it happens")
	cmd.Flags().StringArrayVar(&c.expect, "expect-change", nil, `an endpoint this release changes on purpose, such as "GET /api/notes/{id}" (repeatable)`)
	return cmd
}

func (c *deployCmd) run(ctx context.Context, e *env, dir string) error {
	if c.app == "" {
		return fmt.Errorf("which app? pass --app NAME (see prosper app list)")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: pass the app's source directory", dir)
	}
	cl, err := e.apiClient()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(build.PackDir(dir, pw)) }()
	q := url.Values{}
	if sha := gitHead(ctx, dir); sha != "" {
		q.Set("commit", sha)
	}
	for _, ep := range c.expect {
		q.Add("expect_change", ep)
	}
	res, err := cl.Stream(ctx, http.MethodPost, "/api/apps/"+c.app+"/deploys?"+q.Encode(), "application/gzip", pr,
		c.printer(e))
	pr.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s v%d is live: %s\n", res.Release.App, res.Release.Version, res.URL)
	return nil
}

// printer shows the lines of prosper's own steps, and with --watch the build's
// output too.
func (c *deployCmd) printer(e *env) func(string) {
	return func(line string) {
		// prosper's own lines, and the reasons of a verdict under them.
		if c.watch || strings.HasPrefix(line, "----->") || strings.HasPrefix(line, "       - ") {
			fmt.Fprintln(e.stdout, line)
		}
	}
}

// gitHead is the commit a working tree is at, when it is a clean git checkout, so
// the release can name it.
func gitHead(ctx context.Context, dir string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain").Output()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		return ""
	}
	sha, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(sha))
}
