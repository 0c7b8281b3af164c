package image

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry serves an in-memory OCI registry over plain HTTP on loopback and
// returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func testImage(t *testing.T) v1.Image {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"bin/app": "binary", "static/index.html": "<h1>hi</h1>"})
	img, err := FromRelease(dir, []string{"bin/app"}, map[string]string{"MODE": "test"}, Options{CACertificates: caFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPushThenPullByDigest(t *testing.T) {
	host := startRegistry(t)
	img := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	digest, err := Push(ctx, img, host+"/apps/hello:r1")
	if err != nil {
		t.Fatal(err)
	}
	if want := mustDigest(t, img); digest != want {
		t.Fatalf("Push returned %s, the image's digest is %s", digest, want)
	}

	ref, err := name.NewDigest(host+"/apps/hello@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
	if got := mustDigest(t, pulled); got != digest {
		t.Fatalf("pulled digest %s, want %s", got, digest)
	}
	wantLayers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	gotLayers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotLayers) != 2 || len(gotLayers) != len(wantLayers) {
		t.Fatalf("pulled %d layers, want 2", len(gotLayers))
	}
	for i := range gotLayers {
		got, err := gotLayers[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := wantLayers[i].Digest()
		if got != want {
			t.Errorf("layer %d: %s, want %s", i, got, want)
		}
	}
	// The pulled layers hold the release and the base, byte for byte.
	headers := extract(t, pulled, t.TempDir())
	for _, p := range []string{"app/bin/app", "app/static/index.html", "etc/passwd", "tmp"} {
		if headers[p] == nil {
			t.Errorf("pulled image has no %s", p)
		}
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/app/bin/app"}) || !slices.Contains(cf.Config.Env, "MODE=test") || cf.Config.User != "65532:65532" {
		t.Errorf("pulled config %+v", cf.Config)
	}

	// The tag names the same content, and pushing it again changes nothing.
	tagged, err := remote.Head(mustRef(t, host+"/apps/hello:r1"), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if tagged.Digest.String() != digest {
		t.Errorf("tag r1 names %s, want %s", tagged.Digest, digest)
	}
	again, err := Push(ctx, img, host+"/apps/hello:r1")
	if err != nil || again != digest {
		t.Errorf("second push: %s, %v; want %s", again, err, digest)
	}
	// A digest reference must match the image.
	if _, err := Push(ctx, img, host+"/apps/hello@sha256:"+strings.Repeat("0", 64)); err == nil {
		t.Error("push to another digest succeeded")
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPushInsecureMark pushes to a registry known by a name that is neither
// loopback nor private, as a cluster-internal registry is: plain HTTP only
// when marked insecure.
func TestPushInsecureMark(t *testing.T) {
	addr := startRegistry(t)
	// Every connection goes to the test registry, whatever the host name says.
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	img := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ref := "registry.prosper.internal:5000/apps/hello:r1"

	if _, err := Push(ctx, img, ref, WithTransport(transport)); err == nil {
		t.Fatal("push over HTTPS to a plain HTTP registry succeeded")
	}
	digest, err := Push(ctx, img, ref, WithTransport(transport), Insecure())
	if err != nil {
		t.Fatal(err)
	}
	if digest != mustDigest(t, img) {
		t.Fatalf("digest %s", digest)
	}
}

func TestIsLoopback(t *testing.T) {
	for registry, want := range map[string]bool{
		"127.0.0.1:5000":      true,
		"[::1]:5000":          true,
		"localhost:5000":      true,
		"localhost":           true,
		"10.0.0.1:5000":       false,
		"registry.local:5000": false,
		"ghcr.io":             false,
	} {
		if got := isLoopback(registry); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", registry, got, want)
		}
	}
}
