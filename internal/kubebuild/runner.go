// Package kubebuild runs the builds of apps that are not Go inside the
// Kubernetes cluster the apps run on, the way Jib and ko think of images: no
// Docker, no BuildKit. A build is a Job in the app's namespace on the
// language base image of the app's kind (node, python, or prosper.yaml's
// image:), pinned by digest, running the build's commands in the release
// directory mounted at the same path (the control plane's data directory is
// on the node, as the apps' DATA_DIR is). The Kubernetes runtime then layers
// the built release onto the same base (internal/node kube_base.go), which it
// reads from the record the build leaves in the release (image.BaseFile).
package kubebuild

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/node"
)

// DefaultTimeout bounds a build in the cluster when Runner.Timeout is zero.
const DefaultTimeout = 15 * time.Minute

// Runner runs builds as Kubernetes Jobs. Set Kube and DataDir; the client
// is made at the first build.
type Runner struct {
	// Kube is the cluster and registry of prosper up --kubernetes; its
	// ImageBases override DefaultBases.
	Kube node.KubeConfig
	// DataDir is the control plane's data directory, where the ID of this
	// prosper in the cluster is kept when Kube.Instance is empty.
	DataDir string
	// Timeout bounds one build, from the Job's creation to its end; zero
	// means DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger

	mu       sync.Mutex
	cs       kubernetes.Interface
	instance string
}

var _ build.Remote = (*Runner)(nil)

// Build chooses b's base image, pins it by digest, records it in b.Dir and,
// when b has steps, runs them in a Job on that base. A step that fails gives
// a *build.Error with the end of its output; the Job is deleted either way.
func (r *Runner) Build(ctx context.Context, b build.RemoteBuild) error {
	kind, ref, err := chooseBase(b, r.Kube.ImageBases)
	if err != nil {
		return err
	}
	if ref == "" {
		if len(b.Steps) > 0 {
			// chooseBase gives every kind with steps a base: this is a bug.
			return fmt.Errorf("build %s: no base image for a %s build", b.App, b.Kind)
		}
		return nil // the minimal image of a static binary
	}
	pinned, err := resolve(ctx, ref, r.insecure)
	if err != nil {
		return err
	}
	if err := image.WriteBase(b.Dir, image.BaseRecord{Kind: kind, Ref: pinned}); err != nil {
		return err
	}
	if len(b.Steps) == 0 {
		fmt.Fprintf(b.Log, "-----> runs on %s\n", pinned)
		return nil
	}
	cs, instance, err := r.client()
	if err != nil {
		return err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	j := &job{
		cs: cs, app: b.App, dir: b.Dir, steps: b.Steps, image: r.pullName(pinned),
		instance: instance, timeout: timeout, log: b.Log, logger: r.logger(),
	}
	return j.run(ctx)
}

// client connects to the cluster once.
func (r *Runner) client() (kubernetes.Interface, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cs != nil {
		return r.cs, r.instance, nil
	}
	rc, err := node.KubeRESTConfig(r.Kube.Kubeconfig)
	if err != nil {
		return nil, "", err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes client: %w", err)
	}
	instance, err := node.KubeInstanceID(r.Kube, r.DataDir)
	if err != nil {
		return nil, "", err
	}
	r.cs, r.instance = cs, instance
	return cs, instance, nil
}

// insecure reports whether a base image's registry is the cluster's own
// registry trusted over plain HTTP (--registry-insecure). Loopback and
// private addresses are plain HTTP without it.
func (r *Runner) insecure(host string) bool {
	return r.Kube.Insecure && (host == r.Kube.Registry || host == r.Kube.PullRegistry)
}

// pullName is a base in the cluster's registry as the cluster's nodes name
// that registry (--registry-pull), so that the build's pod can pull it.
func (r *Runner) pullName(ref string) string {
	if r.Kube.PullRegistry == "" || r.Kube.Registry == "" {
		return ref
	}
	if rest, ok := strings.CutPrefix(ref, r.Kube.Registry+"/"); ok {
		return r.Kube.PullRegistry + "/" + rest
	}
	return ref
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r.Logger
}
