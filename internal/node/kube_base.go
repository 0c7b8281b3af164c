package node

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/rest"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/runtime"
)

// This file runs releases built on a language base image (image.BaseFile):
// their image is the release layered onto that base, and their command runs
// with the base's /bin/sh, as on the machine. It also lends the in-cluster
// build (internal/kubebuild) the names this runtime gives things, so that a
// build lands in the app's namespace and names the same prosper.

// KubeNamespace is the namespace of an app's workloads, and of its builds.
func KubeNamespace(app string) string { return "prosper-" + dnsLabel(app) }

// KubeInstanceID is the ID that tells this prosper's objects from another's
// in a shared cluster: cfg.Instance, or the one kept in dataDir.
func KubeInstanceID(cfg KubeConfig, dataDir string) (string, error) {
	if cfg.Instance != "" {
		return cfg.Instance, nil
	}
	return instanceID(dataDir)
}

// KubeRESTConfig reads a kubeconfig file, or the in-cluster configuration
// when path is empty, as the node does.
func KubeRESTConfig(path string) (*rest.Config, error) {
	c, err := restConfig(path)
	if err != nil {
		return nil, err
	}
	c.UserAgent = "prosper"
	return c, nil
}

// KubeLabels are the labels of everything prosper makes for an app in a
// cluster, with component saying what it is ("release", "build").
func KubeLabels(app, component, instance string) map[string]string {
	return map[string]string{
		labelName: dnsLabel(app), labelManagedBy: managedBy, labelPartOf: "prosper",
		labelComponent: component, labelOwner: instance,
	}
}

// KubeFieldManager is the field manager of prosper's server-side applies.
const KubeFieldManager = fieldManager

// shellCommand is the container command of a release on a language base:
// its run command as /bin/sh -c runs it on the machine (Procfile semantics:
// $PORT, pipes, &&). Kubernetes expands $(VAR) in commands and reads $$ as
// $, so every $ is doubled to reach the shell as written.
func shellCommand(spec runtime.Spec) ([]string, error) {
	line := strings.TrimSpace(spec.Command)
	if line == "" {
		return nil, fmt.Errorf("%s has no command to run", spec.ID)
	}
	return []string{"/bin/sh", "-c", strings.ReplaceAll(line, "$", "$$")}, nil
}

// pulledBases holds the base images pulled, by digest: a reference by digest
// names the same bytes forever, so the manifest and config fetched for one
// release serve the next ones without asking the registry again. Layers are
// read only when the registry pushed to lacks them.
var pulledBases = struct {
	sync.Mutex
	m map[string]v1.Image
}{m: map[string]v1.Image{}}

// baseImage returns the base image ref (by digest) for linux/amd64, the
// platform of prosper's images, pulled with the credentials of the Docker
// config of the user running prosper, if any.
func (k *kubeBackend) baseImage(ctx context.Context, ref string) (v1.Image, error) {
	pulledBases.Lock()
	img := pulledBases.m[ref]
	pulledBases.Unlock()
	if img != nil {
		return img, nil
	}
	var opts []name.Option
	if k.cfg.Insecure {
		// The cluster's own registry, trusted over plain HTTP by --registry-insecure.
		if host, _, _ := strings.Cut(ref, "/"); host == k.cfg.Registry || host == k.cfg.PullRegistry {
			opts = append(opts, name.Insecure)
		}
	}
	r, err := name.NewDigest(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("base image %s: not a reference by digest: %w", ref, err)
	}
	// Not ctx: the image is kept, and its layers may be read by a later push.
	img, err = remote.Image(r, remote.WithContext(context.WithoutCancel(ctx)), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", ref, err)
	}
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", ref, err)
	}
	pulledBases.Lock()
	pulledBases.m[ref] = img
	pulledBases.Unlock()
	return img, nil
}

// releaseOnBase makes the image of a release recorded on a language base.
func (k *kubeBackend) releaseOnBase(ctx context.Context, spec runtime.Spec, rec image.BaseRecord) (v1.Image, error) {
	base, err := k.baseImage(ctx, rec.Ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID, err)
	}
	// The image's own entrypoint is the shell line as written: it is what
	// `docker run` of the image would do; the pod's command says the same in
	// Kubernetes's syntax.
	cmd := []string{"/bin/sh", "-c", strings.TrimSpace(spec.Command)}
	img, err := image.OnBase(base, spec.Artifact, cmd, nil, image.Options{Port: kubePort})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID, err)
	}
	return img, nil
}
