package kubebuild

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/prosperhq/prosper/internal/build"
)

// DefaultBases are the base images of the kinds of build prosper knows, when
// --image-base does not name others: the official images, slim, on the Debian
// release the versions are supported on.
var DefaultBases = map[string]string{
	build.KindNode:   "docker.io/library/node:22-bookworm-slim",
	build.KindPython: "docker.io/library/python:3.12-slim-bookworm",
}

// ErrNoImage means an app builds with prosper.yaml's build: command and says
// nothing prosper could choose its base image by.
var ErrNoImage = errors.New("this app builds with build: in prosper.yaml, which runs in the cluster on a base image " +
	"that prosper cannot choose for it: set image: in prosper.yaml to one that has what the build and the app need, " +
	"such as docker.io/library/node:22-bookworm-slim")

// ParseBases reads --image-base values, KIND=REF, over the defaults. Only the
// kinds that have a default can be overridden: other apps name their base
// with image: in prosper.yaml.
func ParseBases(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		kind, ref, ok := strings.Cut(v, "=")
		kind, ref = strings.TrimSpace(kind), strings.TrimSpace(ref)
		if _, known := DefaultBases[kind]; !ok || !known {
			return nil, fmt.Errorf("--image-base %q: write KIND=IMAGE with KIND one of %s, such as node=registry.example.com/mirror/node:22-bookworm-slim",
				v, strings.Join(baseKinds(), ", "))
		}
		if _, err := name.ParseReference(ref); err != nil {
			return nil, fmt.Errorf("--image-base %s: %q is not an image reference, such as registry.example.com/mirror/node:22-bookworm-slim or REPOSITORY@sha256:DIGEST", kind, ref)
		}
		out[kind] = ref
	}
	return out, nil
}

func baseKinds() []string {
	kinds := make([]string, 0, len(DefaultBases))
	for k := range DefaultBases {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// interpreters tell a Procfile app's language by the program its web: line
// starts: such an app has nothing to build, but needs its interpreter.
var interpreters = []struct {
	program *regexp.Regexp
	kind    string
}{
	{regexp.MustCompile(`^(python[0-9.]*|gunicorn|uvicorn|hypercorn|waitress-serve)$`), build.KindPython},
	{regexp.MustCompile(`^(node|nodejs|npm|npx)$`), build.KindNode},
}

// chooseBase says which base image b builds and runs on: prosper.yaml's
// image:, else the base of its kind (a Procfile app's kind being its
// interpreter's). Empty means the minimal image of a static binary: a Go app,
// or a Procfile or run: command starting a program of the release.
func chooseBase(b build.RemoteBuild, bases map[string]string) (kind, ref string, err error) {
	kind = b.Kind
	if b.Image != "" {
		return kind, b.Image, nil
	}
	if kind == build.KindProcfile {
		prog := runProgram(b.Run)
		for _, in := range interpreters {
			if in.program.MatchString(prog) {
				kind = in.kind
			}
		}
	}
	switch kind {
	case build.KindNode, build.KindPython:
		if ref := bases[kind]; ref != "" {
			return kind, ref, nil
		}
		return kind, DefaultBases[kind], nil
	case build.KindCustom:
		if len(b.Steps) > 0 {
			return "", "", ErrNoImage
		}
	}
	return kind, "", nil
}

// runProgram is the base name of the program a run command starts, past
// "exec" and VAR=value assignments.
func runProgram(line string) string {
	for _, f := range strings.Fields(line) {
		if f == "exec" || (strings.Contains(f, "=") && !strings.HasPrefix(f, "=")) {
			continue
		}
		return path.Base(f)
	}
	return ""
}

// resolve finds the digest ref names now and returns ref pinned to it, as
// the user spelled the repository: "node:22-bookworm-slim" becomes
// "node@sha256:...". Every build resolves once, so that its Job and its
// release's image are the same bytes, and the release names them for good.
func resolve(ctx context.Context, ref string, insecure func(host string) bool) (string, error) {
	var opts []name.Option
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("base image %q: %w", ref, err)
	}
	if insecure(r.Context().RegistryStr()) {
		opts = append(opts, name.Insecure)
		if r, err = name.ParseReference(ref, opts...); err != nil {
			return "", fmt.Errorf("base image %q: %w", ref, err)
		}
	}
	desc, err := remote.Head(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return "", fmt.Errorf("base image %s: cannot read it from its registry (set another with --image-base KIND=REF, "+
			"or image: in prosper.yaml): %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		if d.DigestStr() != desc.Digest.String() {
			return "", fmt.Errorf("base image %s: the registry serves %s", ref, desc.Digest)
		}
		return repository(ref) + "@" + d.DigestStr(), nil
	}
	return repository(ref) + "@" + desc.Digest.String(), nil
}

// repository is ref without its tag or digest, as written.
func repository(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
