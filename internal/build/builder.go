// Package build turns a source tree into a runnable release without Docker: it
// detects the kind of app (prosper.yaml, Go module, Node package, Python
// requirements, Procfile), runs the build commands in the tree with the host's
// toolchains, and says how to start the result.
//
// Go builds share the user's build cache, so a one-line change to a small app
// rebuilds in about a second.
package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// Kinds of build, as reported in Result.Kind.
const (
	KindCustom   = "custom"   // prosper.yaml build: (or only run:) says what to do
	KindGo       = "go"       // go.mod: go build
	KindNode     = "node"     // package.json: npm ci or npm install
	KindPython   = "python"   // requirements.txt: pip install --target
	KindProcfile = "procfile" // nothing to build; the Procfile says how to run
)

// Builder builds releases. The zero value is ready to use.
type Builder struct {
	// Env is the base environment of build commands; nil means os.Environ().
	Env []string
	// GoCache is the GOCACHE of build commands; empty leaves the go command's own
	// default, the user's persistent cache, which is what makes rebuilds fast.
	GoCache string
	// Remote, when set, runs the builds of apps that are not Go somewhere else
	// than this machine, such as in a Kubernetes Job on the base image the
	// release will run on, and records that base in the release. Go builds
	// stay here: they need nothing of the base.
	Remote Remote
}

// Request is one build.
type Request struct {
	App string
	// Dir is the extracted source tree. It is built in place and becomes the
	// release's artifact directory; build outputs go under Dir/.prosper.
	Dir    string
	Config appconfig.Config
	// Log receives the build output line by line as it happens; nil discards it.
	// Write errors are ignored: a client that stops reading does not fail a build.
	Log io.Writer
}

// Result says how to run a built release.
type Result struct {
	Kind string
	// Command starts one replica: a shell command run in Dir with $PORT set.
	Command string
	// Env holds variables the release needs at run time besides PORT, such as
	// PYTHONPATH for Python dependencies. Paths in it are relative to Dir.
	Env      map[string]string
	Duration time.Duration
}

// Build runs the build of req.Dir and returns how to run it. A build command that
// fails gives an *Error holding the last lines of its output; a tree prosper cannot
// tell how to build or run gives an error that says what to add. Cancelling ctx
// kills every process the build started.
func (b *Builder) Build(ctx context.Context, req Request) (Result, error) {
	started := time.Now()
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	if fi, err := os.Stat(req.Dir); err != nil {
		return Result{}, fmt.Errorf("build %s: source tree: %w", req.App, err)
	} else if !fi.IsDir() {
		return Result{}, fmt.Errorf("build %s: source tree %s is not a directory", req.App, req.Dir)
	}
	p, err := detect(req.Dir, req.Config)
	if err != nil {
		return Result{}, err
	}
	for _, d := range p.mkdirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Result{}, fmt.Errorf("build %s: %w", req.App, err)
		}
	}
	here := b.Remote == nil || buildsHere(req.Dir, p, req.Config)
	if here {
		env := b.env()
		for _, step := range p.steps {
			if err := runStep(ctx, req.Dir, env, step, log); err != nil {
				return Result{}, err
			}
		}
	}
	if b.Remote != nil {
		rb := RemoteBuild{App: req.App, Dir: req.Dir, Kind: p.kind, Run: p.run, Image: req.Config.Image, Log: log}
		if !here {
			rb.Steps = p.steps
		}
		if err := b.Remote.Build(ctx, rb); err != nil {
			return Result{}, err
		}
	}
	return Result{Kind: p.kind, Command: p.run, Env: p.env, Duration: time.Since(started)}, nil
}

// env returns the environment of build commands.
func (b *Builder) env() []string {
	env := b.Env
	if env == nil {
		env = os.Environ()
	}
	env = append([]string(nil), env...)
	if b.GoCache != "" {
		env = append(env, "GOCACHE="+b.GoCache)
	}
	return env
}
