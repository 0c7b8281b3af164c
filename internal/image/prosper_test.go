package image

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// linuxBinary builds testdata/hello for linux/arch and returns its path.
func linuxBinary(t *testing.T, arch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prosper-"+arch)
	build := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// fakeBase is a small stand-in for the Go image: one layer, a PATH without Go
// and a shell as its command, for arch.
func fakeBase(t *testing.T, arch string, mt types.MediaType) v1.Image {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"etc/os-release": "ID=test\n"})
	layer, err := releaseLayer(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, mt)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = []string{"PATH=/usr/bin:/bin", "GOPATH=/go", "HOME=/root"}
	cf.Config.Cmd = []string{"bash"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestProsperImage(t *testing.T) {
	amd := linuxBinary(t, "amd64")
	base := fakeBase(t, "amd64", types.OCIManifestSchema1)

	img, err := ProsperImage(base, amd)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{ProsperBinary}) || cf.Config.Cmd != nil || cf.Config.User != "" {
		t.Errorf("entrypoint %v cmd %v user %q; want prosper as root, no command", cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User)
	}
	wantEnv := []string{
		"PATH=/usr/local/go/bin:/usr/bin:/bin", "GOPATH=/go", "HOME=/var/lib/prosper/home",
		"GOCACHE=/var/lib/prosper/cache/go-build", "GOMODCACHE=/var/lib/prosper/cache/gomod", "GOTOOLCHAIN=local",
	}
	if !slices.Equal(cf.Config.Env, wantEnv) {
		t.Errorf("env\n got %v\nwant %v", cf.Config.Env, wantEnv)
	}
	if !cf.Created.Time.Equal(epoch) {
		t.Errorf("created %v, want the epoch", cf.Created)
	}

	// The binary is at its path, runnable, and the base's files are kept.
	root := t.TempDir()
	headers := extract(t, img, root)
	h := headers[strings.TrimPrefix(ProsperBinary, "/")]
	if h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Fatalf("prosper binary entry %+v", h)
	}
	want, _ := os.ReadFile(amd)
	if got, _ := os.ReadFile(filepath.Join(root, ProsperBinary)); !slices.Equal(got, want) {
		t.Error("the binary in the image differs from the one given")
	}
	if _, ok := headers["app/etc/os-release"]; !ok {
		t.Error("the base's files are gone")
	}

	// Reproducible: the same base and binary give the same digest.
	again, err := ProsperImage(base, amd)
	if err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, again) != mustDigest(t, img) {
		t.Error("two images of the same binary on the same base differ")
	}

	// A Docker-format base gets a Docker layer.
	docker, err := ProsperImage(fakeBase(t, "amd64", types.DockerManifestSchema2), amd)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := docker.Layers()
	if mt, _ := layers[len(layers)-1].MediaType(); mt != types.DockerLayer {
		t.Errorf("layer on a Docker base: %s", mt)
	}
}

func TestProsperImageRefusesWrongBinary(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "prosper")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tiny := filepath.Join(t.TempDir(), "prosper")
	if err := os.WriteFile(tiny, []byte("hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		binary string
		base   string
		want   []string
	}{
		{"shorter than an ELF header", tiny, "amd64", []string{"not an ELF file", "GOARCH=amd64"}},
		{"arm64 binary on amd64 base", linuxBinary(t, "arm64"), "amd64", []string{"is for arm64, the base image for amd64", "GOARCH=amd64"}},
		{"not a program", notELF, "arm64", []string{"not an ELF file", "GOOS=linux GOARCH=arm64 CGO_ENABLED=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ProsperImage(fakeBase(t, tt.base, types.OCIManifestSchema1), tt.binary)
			if !errors.Is(err, ErrWrongBinary) {
				t.Fatalf("error %v, want ErrWrongBinary", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestPullBaseChoosesPlatform pushes a two-platform index, as the official Go
// image is, and pulls each platform's image from it.
func TestPullBaseChoosesPlatform(t *testing.T) {
	host := startRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	amd, arm := fakeBase(t, "amd64", types.OCIManifestSchema1), fakeBase(t, "arm64", types.OCIManifestSchema1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	ref, err := name.ParseReference(host+"/library/golang:test", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	for arch, want := range map[string]v1.Image{"amd64": amd, "arm64": arm} {
		got, err := PullBase(ctx, host+"/library/golang:test", arch)
		if err != nil {
			t.Fatal(err)
		}
		if mustDigest(t, got) != mustDigest(t, want) {
			t.Errorf("%s: pulled another platform's image", arch)
		}
	}
	if _, err := PullBase(ctx, host+"/library/missing:1", "amd64"); err == nil || !strings.Contains(err.Error(), "pull base image") {
		t.Errorf("a missing base: %v", err)
	}
}
