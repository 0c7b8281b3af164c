package image

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What prosper's own image is made of: the control plane runs in a cluster
// from it, and builds Go apps there, so its base brings git (the git endpoint
// shells out to it, and the pre-receive hook is a /bin/sh script) and the Go
// toolchain.
const (
	// DefaultProsperBase is the base of prosper's image: the official Go image
	// (multi-arch, Debian with git and Go on PATH).
	DefaultProsperBase = "docker.io/library/golang:1.26-bookworm"
	// ProsperBinary is where the prosper binary lands; it is the entrypoint.
	ProsperBinary = "/usr/local/bin/prosper"
	// ProsperDataDir is the control plane's data directory in the cluster. The
	// build caches are under it, so that builds stay warm across restarts of
	// the pod.
	ProsperDataDir = "/var/lib/prosper"
	// goBinDir is the official image's Go; it is added to PATH if the base's
	// PATH lacks it.
	goBinDir = "/usr/local/go/bin"
)

// ErrWrongBinary is returned, wrapped, when the binary given for prosper's
// image is not a Linux program of the base's architecture.
var ErrWrongBinary = errors.New("not a Linux prosper binary for the image's platform")

// CrossBuildHint says how to make a binary ProsperImage takes.
func CrossBuildHint(arch string) string {
	return fmt.Sprintf("build one with: GOOS=linux GOARCH=%s CGO_ENABLED=0 go build -o prosper-linux ./cmd/prosper", arch)
}

// ProsperEnv is the environment prosper's image sets on top of its base's:
// the Go toolchain of the image and no other (a go.mod asking for a newer one
// fails instead of downloading it in the control plane), and the caches and
// HOME on the data directory.
func ProsperEnv(dataDir string) map[string]string {
	return map[string]string{
		"GOTOOLCHAIN": "local",
		"GOCACHE":     dataDir + "/cache/go-build",
		"GOMODCACHE":  dataDir + "/cache/gomod",
		"HOME":        dataDir + "/home",
	}
}

// BinaryArch returns the image architecture ("amd64" or "arm64") of the Linux
// program at path; anything else, such as a macOS binary, is ErrWrongBinary.
func BinaryArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		// A file shorter than an ELF header ends in EOF before any format error.
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", fmt.Errorf("%s: %w (it is not an ELF file)", path, ErrWrongBinary)
		}
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return "", fmt.Errorf("%s: %w (it is for %v)", path, ErrWrongBinary, f.OSABI)
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("%s: %w (its machine is %v; want amd64 or arm64)", path, ErrWrongBinary, f.Machine)
}

// PullBase fetches the base image ref for linux/arch; from a multi-platform
// index it takes that platform's image. The options are Push's: Insecure for
// plain HTTP, WithAuth (without it, the credentials of docker login are used),
// WithTransport.
func PullBase(ctx context.Context, ref, arch string, opts ...PushOption) (v1.Image, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	var nameOpts []name.Option
	if o.insecure || isLoopback(strings.SplitN(ref, "/", 2)[0]) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", ref, err)
	}
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}),
	}
	if o.auth != nil {
		remoteOpts = append(remoteOpts, remote.WithAuth(o.auth))
	} else {
		remoteOpts = append(remoteOpts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	if o.transport != nil {
		remoteOpts = append(remoteOpts, remote.WithTransport(o.transport))
	}
	img, err := remote.Image(r, remoteOpts...)
	if err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", ref, err)
	}
	return img, nil
}

// ProsperImage layers the prosper binary at binary onto base as ProsperBinary,
// the image's entrypoint, with ProsperEnv(ProsperDataDir) and Go on PATH. The
// binary must be a Linux program of the base's architecture; the result is
// the same image, by digest, for the same base and binary.
func ProsperImage(base v1.Image, binary string) (v1.Image, error) {
	baseCfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base image config: %w", err)
	}
	arch, err := BinaryArch(binary)
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, CrossBuildHint(orDefault(baseCfg.Architecture, "amd64")))
	}
	if baseCfg.OS != "" && baseCfg.OS != "linux" {
		return nil, fmt.Errorf("base image is for %s; prosper's image needs a linux base", baseCfg.OS)
	}
	if baseCfg.Architecture != arch {
		return nil, fmt.Errorf("%s is for %s, the base image for %s: %w; %s",
			binary, arch, baseCfg.Architecture, ErrWrongBinary, CrossBuildHint(baseCfg.Architecture))
	}
	layer, err := binaryLayer(binary, baseMediaType(base))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "prosper: binary " + ProsperBinary},
	})
	if err != nil {
		return nil, fmt.Errorf("add the prosper layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{ProsperBinary}
	// The base's command (a shell, in the Go image) would become prosper's
	// arguments.
	cf.Config.Cmd = nil
	cf.Config.Env = prosperImageEnv(cf.Config.Env)
	// The control plane runs as root: it hands the apps' data directories to
	// their non-root user.
	cf.Config.User = ""
	return mutate.ConfigFile(img, cf)
}

// prosperImageEnv is the base's environment with ProsperEnv set over it and
// Go on PATH, in the base's order, then the new names sorted.
func prosperImageEnv(base []string) []string {
	set := ProsperEnv(ProsperDataDir)
	var out []string
	seen := map[string]bool{}
	hasPath := false
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			hasPath = true
			if !slices.Contains(strings.Split(v, ":"), goBinDir) {
				v = goBinDir + ":" + v
			}
		case set[k] != "":
			v = set[k]
		}
		seen[k] = true
		out = append(out, k+"="+v)
	}
	if !hasPath {
		out = append(out, "PATH="+goBinDir+":"+defaultPath)
	}
	var added []string
	for k, v := range set {
		if !seen[k] {
			added = append(added, k+"="+v)
		}
	}
	slices.Sort(added)
	return append(out, added...)
}

// baseMediaType is the layer media type that fits the base's manifest: a
// Docker manifest with an OCI layer is refused by some registries.
func baseMediaType(base v1.Image) types.MediaType {
	if mt, err := base.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		return types.DockerLayer
	}
	return types.OCILayer
}

// binaryLayer is a layer holding the file binary as ProsperBinary, with its
// parent directories, owned by root.
func binaryLayer(binary string, mt types.MediaType) (v1.Layer, error) {
	info, err := os.Stat(binary)
	if err != nil {
		return nil, fmt.Errorf("prosper binary: %w", err)
	}
	var buf bytes.Buffer
	w := &layerWriter{tw: tar.NewWriter(&buf)}
	w.dir("usr/", 0o755, 0)
	w.dir("usr/local/", 0o755, 0)
	w.dir("usr/local/bin/", 0o755, 0)
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(ProsperBinary, "/"), Mode: 0o755, Size: info.Size()})
	if w.err == nil {
		b, err := os.ReadFile(binary)
		if err != nil {
			return nil, fmt.Errorf("prosper binary: %w", err)
		}
		if int64(len(b)) != info.Size() {
			return nil, fmt.Errorf("prosper binary %s changed while it was read", binary)
		}
		_, w.err = w.tw.Write(b)
	}
	if err := w.close(); err != nil {
		return nil, fmt.Errorf("prosper layer: %w", err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(mt), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("prosper layer: %w", err)
	}
	return l, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
