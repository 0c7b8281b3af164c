package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/image"
)

// newImageCmd is "prosper image": prosper's own container image, the one the
// chart runs in a cluster.
func newImageCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image",
		Short:   "Build prosper's own container image, for running it in a cluster",
		Example: `  prosper image build --push registry.example.com/prosper`,
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(newImageBuildCmd(e))
	return cmd
}

// prosperImageBuild is one build of prosper's image: a Linux prosper binary
// layered onto a base with git and Go, pushed by digest.
type prosperImageBuild struct {
	push     string
	base     string
	binary   string
	insecure bool
}

func newImageBuildCmd(e *env) *cobra.Command {
	c := &prosperImageBuild{}
	cmd := &cobra.Command{
		Use:   "build --push REF",
		Short: "Build prosper's image without Docker and push it; prints REF@DIGEST",
		Long: `Build prosper's container image without Docker, as ko does: the prosper binary
at ` + image.ProsperBinary + ` (its entrypoint) on a base that has git and the Go
toolchain, which the control plane needs to take pushes and build Go apps. The
base is pulled for the binary's platform (linux/amd64 or linux/arm64); the image
is reproducible and pushed by digest, which is printed: give it to the chart as
image.repository and image.digest ("prosper install --build-image" does all of
this itself).

The binary is this prosper unless --binary names another; it must be a Linux
program, so from a Mac or for another architecture cross-build one first:
  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o prosper-linux ./cmd/prosper`,
		Example: `  prosper image build --push registry.example.com/prosper
  prosper image build --push 127.0.0.1:5000/prosper --binary ./prosper-linux --insecure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := c.run(cmd.Context(), e.stderr)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, ref)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.push, "push", "", "the repository to push to, HOST[:PORT]/NAME[:TAG] (required)")
	f.StringVar(&c.base, "base", image.DefaultProsperBase, "the base image: it must have git, /bin/sh and the Go toolchain")
	f.StringVar(&c.binary, "binary", "", "the Linux prosper binary to put in the image (default: this one)")
	f.BoolVar(&c.insecure, "insecure", false, "pull and push over plain HTTP (a registry without TLS)")
	_ = cmd.MarkFlagRequired("push")
	return cmd
}

// run builds and pushes the image and returns its REPOSITORY@DIGEST. Progress
// goes to log.
func (c *prosperImageBuild) run(ctx context.Context, log io.Writer) (string, error) {
	binary := c.binary
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find this prosper binary: %w; pass --binary PATH", err)
		}
		binary = exe
	}
	arch, err := image.BinaryArch(binary)
	if err != nil {
		return "", fmt.Errorf("%w; %s, and pass it with --binary", err, image.CrossBuildHint("amd64"))
	}
	var opts []image.PushOption
	if c.insecure {
		opts = append(opts, image.Insecure())
	}
	fmt.Fprintf(log, "pulling %s for linux/%s\n", c.base, arch)
	base, err := image.PullBase(ctx, c.base, arch, opts...)
	if err != nil {
		return "", err
	}
	img, err := image.ProsperImage(base, binary)
	if err != nil {
		return "", err
	}
	repo, err := repository(c.push)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(log, "pushing to %s\n", c.push)
	digest, err := image.Push(ctx, img, c.push, opts...)
	if err != nil {
		return "", err
	}
	return repo + "@" + digest, nil
}

// repository is ref without its tag or digest, as written (no docker.io/
// added), for REPOSITORY@DIGEST.
func repository(ref string) (string, error) {
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return "", fmt.Errorf("--push %q: %w; write HOST[:PORT]/NAME[:TAG]", ref, err)
	}
	repo := ref
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo, nil
}
