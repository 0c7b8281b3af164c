package kubetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// pauseSource is the pod sandbox program: it holds the pod's namespaces open until
// the runtime stops it. No image can be pulled here, so the node builds its own.
const pauseSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// GoImage compiles src, the text of a Go main package that imports only the
// standard library, into a static binary and writes it as a one-layer image named
// ref (for example "prosper.test/app:1") to a docker-format tarball, whose path it
// returns. The binary is /app and the image's entrypoint; the image's platform is
// this machine's, so that containerd's CRI accepts it.
func GoImage(t testing.TB, ref, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatalf("kubetest: write image source: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module kubetestimage\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatalf("kubetest: write image go.mod: %v", err)
	}
	bin := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubetest: build image binary for %s: %v\n%s", ref, err, out)
	}
	path := filepath.Join(dir, "image.tar")
	if err := writeBinaryImage(path, ref, bin); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return path
}

// writeBinaryImage writes the binary at bin as /app of a one-layer image ref to a
// tarball at path.
func writeBinaryImage(path, ref, bin string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read image binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return fmt.Errorf("make layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/app"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return fmt.Errorf("set image config: %w", err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("write image %s: %w", ref, err)
	}
	return nil
}

// Registry serves an OCI registry (go-containerregistry's implementation of
// the distribution API, in memory) on a loopback port for the test's life and
// returns its host:port. The node's containerd pulls from loopback registries
// over plain HTTP, so pods can run images pushed to it by digest.
func Registry(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: registry: %v", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
