package build

import (
	"context"
	"io"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// Remote runs builds elsewhere than this machine: on Kubernetes, a build runs
// in the cluster on the language base image (node, python) its release will
// run on, so that the interpreter and the packages it installs match.
type Remote interface {
	// Build runs b.Steps in b.Dir, streaming their output to b.Log, and records
	// in b.Dir the base image the release runs on (image.BaseFile), or nothing
	// when the release runs on the minimal base. A step that fails gives an
	// *Error; an app whose base cannot be told gives an error that says what
	// to set.
	Build(ctx context.Context, b RemoteBuild) error
}

// RemoteBuild is one build handed to a Remote.
type RemoteBuild struct {
	App string
	// Dir is the tree, built in place as on this machine.
	Dir string
	// Kind is the kind of build detected (KindNode, KindPython...).
	Kind string
	// Steps are the shell commands to run in Dir in order; empty when the
	// build ran on this machine (a Go app) or there is nothing to build (a
	// Procfile app): the Remote then only chooses the base.
	Steps []string
	// Run is the release's run command, which tells a Procfile app's
	// language by its program.
	Run string
	// Image is prosper.yaml's image:, the base the user chose; empty means
	// the default of Kind.
	Image string
	// Log receives the output line by line; never nil.
	Log io.Writer
}

// buildsHere reports whether a build runs on this machine even when a Remote
// is set: Go builds (the Go toolchain is here, and a static binary needs no
// base), including a build: command in a Go module without image: in
// prosper.yaml, which is how Go apps with a custom build have always run.
func buildsHere(dir string, p plan, cfg appconfig.Config) bool {
	switch {
	case p.kind == KindGo:
		return true
	case p.kind == KindCustom && cfg.Image == "" && exists(dir, "go.mod"):
		return true
	}
	return false
}
