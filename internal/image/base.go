package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BaseFile is where a release built for a language base image records that
// base, relative to the release directory: the build writes it, the
// Kubernetes runtime reads it to make the release's image on the same base.
const BaseFile = ".prosper/image.json"

// BaseRecord says which base image a release was built on and must run on.
type BaseRecord struct {
	// Kind is the kind of build that chose the base (node, python, custom...).
	Kind string `json:"kind"`
	// Ref is the base image by digest, "host/repository@sha256:...": the bytes
	// the build ran on, whatever the tag it was named by points to later.
	Ref string `json:"base"`
}

// WriteBase records rec in the release directory dir.
func WriteBase(dir string, rec BaseRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, BaseFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("record the base image: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record the base image: %w", err)
	}
	return nil
}

// ReadBase reads the base recorded in the release directory dir; ok is false
// when the release has none (a Go app, on the minimal base).
func ReadBase(dir string) (rec BaseRecord, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, BaseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return BaseRecord{}, false, nil
	}
	if err != nil {
		return BaseRecord{}, false, fmt.Errorf("read the release's base image: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return BaseRecord{}, false, fmt.Errorf("read the release's base image %s: %w", BaseFile, err)
	}
	if rec.Ref == "" {
		return BaseRecord{}, false, fmt.Errorf("read the release's base image %s: no base named", BaseFile)
	}
	return rec, true, nil
}

// OnBase builds an image of the release in dir on top of base, the way Jib
// and ko layer an application onto a language image: base's layers as they
// are, then the release as AppDir owned by the non-root user, and a config
// that keeps base's environment (its PATH finds the interpreter) and runs cmd
// in AppDir as UID with env and PORT. HOME is /tmp when base sets none: the
// non-root user has no home in a base that does not know it, and package
// managers write there.
//
// Options.Arch and CACertificates do not apply: the platform and the files
// are base's. The same base and release give the same digest.
func OnBase(base v1.Image, dir string, cmd []string, env map[string]string, opts Options) (v1.Image, error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, fmt.Errorf("image of %s: no command to run", dir)
	}
	port, err := imagePort(opts.Port, env)
	if err != nil {
		return nil, err
	}
	baseConfig, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image of %s: base image config: %w", dir, err)
	}
	app, err := releaseLayer(dir)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", dir, err)
	}
	// A Docker manifest listing an OCI layer is refused by some registries:
	// the release layer takes the base's flavour.
	layerType := types.OCILayer
	if mt, err := base.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: app, MediaType: layerType,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "prosper: release"},
	})
	if err != nil {
		return nil, fmt.Errorf("image of %s: add the release layer: %w", dir, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image of %s: config: %w", dir, err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = entrypoint(cmd)
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = AppDir
	cf.Config.User = strconv.Itoa(UID) + ":" + strconv.Itoa(GID)
	cf.Config.Env = baseEnv(baseConfig.Config.Env, env, port)
	cf.Config.ExposedPorts = map[string]struct{}{strconv.Itoa(port) + "/tcp": {}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image of %s: config: %w", dir, err)
	}
	return img, nil
}

// baseEnv is the base's environment with env and PORT over it, AppDir/bin
// first on PATH as in the minimal image, and HOME defaulting to /tmp; sorted,
// so that the digest does not depend on map order.
func baseEnv(inherited []string, env map[string]string, port int) []string {
	all := map[string]string{}
	for _, kv := range inherited {
		k, v, _ := strings.Cut(kv, "=")
		all[k] = v
	}
	maps.Copy(all, env)
	all["PORT"] = strconv.Itoa(port)
	if _, ok := env["PATH"]; !ok {
		path := all["PATH"]
		if path == "" {
			path = strings.TrimPrefix(defaultPath, AppDir+"/bin:")
		}
		all["PATH"] = AppDir + "/bin:" + path
	}
	if all["HOME"] == "" {
		all["HOME"] = "/tmp"
	}
	out := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		out = append(out, k+"="+all[k])
	}
	return out
}
