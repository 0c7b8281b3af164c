// Package image turns a built release into an OCI image without Docker, the way
// ko does for Go programs: the release directory becomes one layer under /app on
// top of a small base layer made here (CA certificates, a non-root user, /tmp),
// and Push sends the result to a registry and says its digest, which is what the
// Kubernetes runtime deploys.
//
// Images are reproducible: the same release gives the same digest, whatever the
// files' timestamps or the machine, so pushing an unchanged release again uploads
// nothing and a digest names a release's content.
package image

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identities inside every image.
const (
	// AppDir is where the release directory lands and the working directory of
	// the program.
	AppDir = "/app"
	// UID and GID of the non-root user the program runs as (distroless's
	// "nonroot"), which owns AppDir.
	UID = 65532
	GID = 65532
	// DefaultPort is the PORT of an image whose Options and env name none.
	DefaultPort = 8080
	// DefaultCACertificates is the host's CA bundle copied into the base layer.
	DefaultCACertificates = "/etc/ssl/certs/ca-certificates.crt"
)

// defaultPath is the PATH of the program: distroless's, so that a command
// naming a tool the release brings under /app/bin is found too.
const defaultPath = "/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is the timestamp of every file, layer and config in an image: the
// host's clock would make each build's digest different.
var epoch = time.Unix(0, 0).UTC()

// ErrUnsafePath is returned, wrapped, when the release directory holds a
// symlink pointing outside it or a file that cannot go into an image.
var ErrUnsafePath = errors.New("path escapes the release directory")

// Options tune FromRelease. The zero value builds a linux/amd64 image listening
// on DefaultPort with the host's CA certificates.
type Options struct {
	// Arch is the CPU architecture of the image: "amd64" (the default) or
	// "arm64". It must match the binaries in the release; FromRelease does not
	// look inside them.
	Arch string
	// Port is the PORT the program listens on, set in the environment and
	// exposed. Zero takes env's PORT, or DefaultPort if env has none.
	Port int
	// CACertificates is the CA bundle copied into the base layer. Empty means
	// DefaultCACertificates, skipped if the host has none; a path set here must
	// exist.
	CACertificates string
}

// FromRelease builds an image of the release in dir: the directory's tree,
// modes and symlinks kept, as AppDir, owned by the non-root user; a base layer
// with /etc/passwd, /etc/group, CA certificates and /tmp; and a config that runs
// cmd in AppDir as UID with env and PORT. There is no shell in the image, so cmd
// is an argument list; a relative cmd[0] with a slash, such as
// ".prosper/bin/app", is taken relative to AppDir.
//
// The layers are held in memory, which suits a static binary and its files but
// not a tree of hundreds of megabytes.
func FromRelease(dir string, cmd []string, env map[string]string, opts Options) (v1.Image, error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, fmt.Errorf("image of %s: no command to run", dir)
	}
	arch, err := architecture(opts.Arch)
	if err != nil {
		return nil, err
	}
	port, err := imagePort(opts.Port, env)
	if err != nil {
		return nil, err
	}
	base, err := baseLayer(opts.CACertificates)
	if err != nil {
		return nil, fmt.Errorf("image of %s: base layer: %w", dir, err)
	}
	app, err := releaseLayer(dir)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", dir, err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "prosper: base"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "prosper: release"}},
	)
	if err != nil {
		return nil, fmt.Errorf("image of %s: add layers: %w", dir, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image of %s: config: %w", dir, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint:   entrypoint(cmd),
		WorkingDir:   AppDir,
		User:         strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Env:          imageEnv(env, port),
		ExposedPorts: map[string]struct{}{strconv.Itoa(port) + "/tcp": {}},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image of %s: config: %w", dir, err)
	}
	return img, nil
}

// architecture checks an Options.Arch; only the platforms prosper's clusters
// run are accepted, so that a typo does not make an image no node can run.
func architecture(arch string) (string, error) {
	switch arch {
	case "":
		return "amd64", nil
	case "amd64", "arm64":
		return arch, nil
	}
	return "", fmt.Errorf("image architecture %q: want amd64 or arm64", arch)
}

// imagePort decides the image's PORT from Options.Port and env's PORT, which
// must agree when both are set.
func imagePort(port int, env map[string]string) (int, error) {
	s, ok := env["PORT"]
	if !ok {
		if port == 0 {
			return DefaultPort, nil
		}
		return checkPort(port)
	}
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("image PORT %q: not a number", s)
	}
	if port != 0 && port != p {
		return 0, fmt.Errorf("image PORT: env says %d, options say %d", p, port)
	}
	return checkPort(p)
}

func checkPort(p int) (int, error) {
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("image PORT %d: out of range", p)
	}
	return p, nil
}

// entrypoint makes a relative program path absolute under AppDir: container
// runtimes differ on whether they resolve it against WorkingDir, and an
// absolute path means the same to all of them.
func entrypoint(cmd []string) []string {
	out := slices.Clone(cmd)
	if !path.IsAbs(out[0]) && strings.Contains(out[0], "/") {
		out[0] = path.Join(AppDir, out[0])
	}
	return out
}

// imageEnv is env with PORT and a default PATH, sorted so that the config, and
// so the digest, does not depend on map order.
func imageEnv(env map[string]string, port int) []string {
	all := maps.Clone(env)
	if all == nil {
		all = map[string]string{}
	}
	all["PORT"] = strconv.Itoa(port)
	if _, ok := all["PATH"]; !ok {
		all["PATH"] = defaultPath
	}
	out := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		out = append(out, k+"="+all[k])
	}
	return out
}
