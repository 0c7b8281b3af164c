package image

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// languageBase is a stand-in for a language image: a layer, a Docker
// manifest, and a config with an interpreter's environment.
func languageBase(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "NODE_VERSION=22.1.0", "GREETING=base"}
	cf.Config.Cmd = []string{"node"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// A release on a language base keeps the base's layers and environment under
// the release's layer, runs as the non-root user in AppDir, and gets the
// same digest each time.
func TestOnBase(t *testing.T) {
	base := languageBase(t)
	release := t.TempDir()
	writeTree(t, release, map[string]string{"server.js": "console.log(1)", "dist/hello.json": "{}"})
	cmd := []string{"/bin/sh", "-c", "node server.js --port $PORT"}
	img, err := OnBase(base, release, cmd, map[string]string{"GREETING": "app"}, Options{Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, _ := base.Layers()
	layers, err := img.Layers()
	if err != nil || len(layers) != len(baseLayers)+1 {
		t.Fatalf("%d layers, %v; want the base's %d and the release's", len(layers), err, len(baseLayers))
	}
	for i, l := range baseLayers {
		want, _ := l.Digest()
		if got, _ := layers[i].Digest(); got != want {
			t.Errorf("layer %d is %s; want the base's %s", i, got, want)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mt := m.Layers[len(m.Layers)-1].MediaType; mt != types.DockerLayer {
		t.Errorf("the release layer is %s on a Docker manifest; want %s", mt, types.DockerLayer)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"GREETING=app", "HOME=/tmp", "NODE_VERSION=22.1.0", "PATH=/app/bin:/usr/local/bin:/usr/bin:/bin", "PORT=8080"}
	if !slices.Equal(cf.Config.Env, wantEnv) {
		t.Errorf("env %q; want %q", cf.Config.Env, wantEnv)
	}
	if !slices.Equal(cf.Config.Entrypoint, cmd) || cf.Config.Cmd != nil || cf.Config.WorkingDir != AppDir ||
		cf.Config.User != "65532:65532" || cf.Architecture != "amd64" {
		t.Errorf("config %+v; want the shell command, no Cmd, %s, the non-root user, the base's platform", cf.Config, AppDir)
	}
	headers := extract(t, img, t.TempDir())
	if h := headers["app/dist/hello.json"]; h == nil || h.Uid != UID {
		t.Errorf("the release is not in the image as the non-root user's: %+v", h)
	}
	again, err := OnBase(base, release, cmd, map[string]string{"GREETING": "app"}, Options{Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, again) != mustDigest(t, img) {
		t.Error("the same base and release gave another digest")
	}
	if _, err := OnBase(base, release, nil, nil, Options{}); err == nil {
		t.Error("OnBase accepted no command")
	}
}

func TestBaseRecord(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadBase(dir); ok || err != nil {
		t.Fatalf("ReadBase of a release without a base = %v, %v; want none", ok, err)
	}
	rec := BaseRecord{Kind: "node", Ref: "registry.example.com/node@sha256:" + strings.Repeat("a", 64)}
	if err := WriteBase(dir, rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadBase(dir)
	if err != nil || !ok || got != rec {
		t.Errorf("ReadBase = %+v, %v, %v; want %+v", got, ok, err, rec)
	}
	if err := os.WriteFile(filepath.Join(dir, BaseFile), []byte(`{"kind": "node"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadBase(dir); err == nil {
		t.Error("ReadBase accepted a record naming no base")
	}
}
