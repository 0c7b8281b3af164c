package cli

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/prosperhq/prosper/internal/image"
)

// runImageBuild runs "prosper image build" on its own command.
func runImageBuild(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newImageCmd(&env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	cmd.SetArgs(append([]string{"build"}, args...))
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), err
}

// pushBase pushes an empty base image of arch as host/base:arch.
func pushBase(t *testing.T, host, arch string) string {
	t.Helper()
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: arch, Config: v1.Config{Env: []string{"PATH=/usr/bin:/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/base:" + arch
	if _, err := image.Push(context.Background(), img, ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestImageBuild(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	host := u.Host

	out, err := runImageBuild(t, "--push", host+"/prosper:dev", "--base", pushBase(t, host, "amd64"), "--binary", prosperBin)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimSpace(out)
	if !strings.HasPrefix(ref, host+"/prosper@sha256:") {
		t.Fatalf("printed %q, want the repository by digest", out)
	}
	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(d)
	if err != nil {
		t.Fatalf("the printed reference does not pull: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{image.ProsperBinary}) || !slices.Contains(cf.Config.Env, "GOTOOLCHAIN=local") {
		t.Errorf("entrypoint %v env %v", cf.Config.Entrypoint, cf.Config.Env)
	}

	// The test binary is amd64 or arm64; a base of the other refuses it.
	other := "arm64"
	if cf.Architecture == "arm64" {
		other = "amd64"
	}
	_, err = runImageBuild(t, "--push", host+"/prosper", "--base", pushBase(t, host, other), "--binary", prosperBin)
	if err == nil || !strings.Contains(err.Error(), "GOOS=linux GOARCH=") {
		t.Errorf("a base of another architecture: %v, want the cross-build command", err)
	}
	if _, err := runImageBuild(t, "--base", "x"); err == nil || !strings.Contains(err.Error(), "push") {
		t.Errorf("without --push: %v", err)
	}
}
