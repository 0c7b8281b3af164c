package provision_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/platform"
)

// clusterRegistry is the platform's registry as the test runs it: a real
// in-memory registry whose one store is served at the node port inside the
// test host (what prosper pushes to, through SSH) and on the test's loopback
// (what the test reads back from). It counts the requests that write.
type clusterRegistry struct {
	handler http.Handler
	local   *httptest.Server
	writes  atomic.Int64
}

func newClusterRegistry(t *testing.T) *clusterRegistry {
	r := &clusterRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			r.writes.Add(1)
		}
		reg.ServeHTTP(w, req)
	})
	r.local = httptest.NewServer(r.handler)
	t.Cleanup(r.local.Close)
	return r
}

// baseImage pushes a small linux base image of this machine's architecture
// (a random layer, no toolchain) to a registry on the test's loopback and
// returns its reference.
func baseImage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	layer, err := random.Layer(512, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = []string{"PATH=/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/base:test"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// armBinary writes an ELF header of a linux/arm64 program: a binary the
// nodes of this machine's architecture cannot run.
func armBinary(t *testing.T) string {
	t.Helper()
	h := elf.Header64{
		Ident:   [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)},
		Type:    uint16(elf.ET_EXEC),
		Machine: uint16(elf.EM_AARCH64),
		Version: uint32(elf.EV_CURRENT),
		Ehsize:  64,
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prosper-arm64")
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	if arch, err := image.BinaryArch(path); err != nil || arch != "arm64" {
		t.Fatalf("the fake arm64 binary reads as %q, %v", arch, err)
	}
	return path
}

// prosperChartImage reads the image values of prosper's HelmChart on the host.
func prosperChartImage(t *testing.T, path string) (repository, digest string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("prosper's HelmChart is not on the server: %v", err)
	}
	var hc struct {
		Spec struct {
			ValuesContent string `yaml:"valuesContent"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &hc); err != nil {
		t.Fatal(err)
	}
	var values struct {
		Image struct{ Repository, Digest string } `yaml:"image"`
	}
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &values); err != nil {
		t.Fatal(err)
	}
	return values.Image.Repository, values.Image.Digest
}

// TestProsperImagePhase creates a one-node cluster whose platform registry
// is a real registry at the node port inside the host, and checks that
// prosper's image, built from a Linux binary on a base pulled here, gets
// there through the SSH tunnel and that prosper's HelmChart runs it by
// digest; that a second create changes nothing; and that a registry that
// never answers, or a binary of the wrong kind, fails with an error a person
// can act on.
func TestProsperImagePhase(t *testing.T) {
	f := newFaultCluster(t, []string{clusterfile.PoolControlPlane}, nil)
	h := f.hosts[0]
	base := baseImage(t)
	// A real static Linux program stands in for prosper: the fake k3s, a
	// fifth of the race-built test binary, which would take long to gzip.
	self := f.binary
	opts := &provision.ProsperImage{Binary: self, Base: base, RegistryTimeout: time.Minute}
	engine := func(o provision.ProsperImage) *provision.Engine {
		return f.engine(func(e *provision.Engine) { e.ProsperImage = &o })
	}
	chartFile := h.Root() + provision.ManifestsDir + "/prosper-16-prosper.yaml"
	reg := newClusterRegistry(t)
	ctx := context.Background()

	// A dry run plans the phase and does nothing.
	e := engine(*opts)
	e.DryRun = true
	if err := e.Create(ctx); err != nil {
		t.Fatalf("dry run: %v\n%s", err, f.out.take())
	}
	dry := f.out.take()
	for _, want := range []string{"prosper image", "would build prosper's image from " + self + " on " + base, "would apply prosper-16-prosper.yaml"} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry)
		}
	}

	// Create: the registry comes up while the phase waits for it, as the
	// platform's does after its chart is applied.
	done := make(chan error, 1)
	go func() { done <- engine(*opts).Create(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(f.out.String(), "waiting up to 1m0s for the platform's registry") {
		select {
		case err := <-done:
			t.Fatalf("create ended before waiting for the registry: %v\n%s", err, f.out.take())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the phase never said it waits for the registry:\n%s", f.out.take())
		}
	}
	if _, err := os.Stat(chartFile); err == nil {
		t.Errorf("prosper's HelmChart was applied before its image was in the registry")
	}
	node := &http.Server{Handler: reg.handler}
	go node.Serve(h.Listen("127.0.0.1:30500"))
	if err := <-done; err != nil {
		t.Fatalf("create: %v\n%s", err, f.out.take())
	}
	first := f.out.take()
	t.Logf("create:\n%s", first)
	repo, digest := prosperChartImage(t, chartFile)
	if repo != platform.RegistryMirror+"/prosper" || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("prosper's HelmChart runs %s@%s, want %s/prosper by digest", repo, digest, platform.RegistryMirror)
	}
	// The image is in the registry by that digest: the test binary as the
	// entrypoint, on the base.
	ref := strings.TrimPrefix(reg.local.URL, "http://") + "/prosper@" + digest
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("the registry lacks the image the chart runs: %v", err)
	}
	checkProsperImage(t, img, self)
	for _, want := range []string{"registry answers after", "pushed 127.0.0.1:30500/prosper@", "prosper-16-prosper.yaml applied"} {
		if !strings.Contains(first, want) {
			t.Errorf("create output lacks %q", want)
		}
	}

	// Again: same digest, nothing written to the registry or the server.
	before, _ := os.Stat(chartFile)
	writes := reg.writes.Load()
	if err := engine(*opts).Create(ctx); err != nil {
		t.Fatalf("create again: %v\n%s", err, f.out.take())
	}
	again := f.out.take()
	if _, d := prosperChartImage(t, chartFile); d != digest {
		t.Errorf("the second create points the chart at %s, the first at %s", d, digest)
	}
	if n := reg.writes.Load() - writes; n != 0 {
		t.Errorf("the second create wrote to the registry %d times", n)
	}
	if after, _ := os.Stat(chartFile); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the second create rewrote prosper's HelmChart")
	}
	for _, want := range []string{"already in the registry", "prosper-16-prosper.yaml unchanged"} {
		if !strings.Contains(again, want) {
			t.Errorf("second create output lacks %q:\n%s", want, again)
		}
	}

	// A binary the nodes cannot run is refused, saying how to build one.
	script := filepath.Join(t.TempDir(), "prosper.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n# a wrapper, not a program: prosper's image needs the binary itself\nexec /opt/prosper/bin/prosper \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hint := image.CrossBuildHint(runtime.GOARCH)
	for _, bin := range []string{armBinary(t), script} {
		o := *opts
		o.Binary = bin
		err := engine(o).Create(ctx)
		out := f.out.take()
		if !errors.Is(err, image.ErrWrongBinary) || !strings.Contains(err.Error(), hint) {
			t.Errorf("create with %s: %v, want %v with %q\n%s", filepath.Base(bin), err, image.ErrWrongBinary, hint, out)
		}
	}
	if _, d := prosperChartImage(t, chartFile); d != digest {
		t.Errorf("a refused binary changed the chart's image to %s", d)
	}

	// A registry that never answers fails the phase once its wait is over.
	node.Close()
	o := *opts
	o.RegistryTimeout = 3 * time.Second
	started := time.Now()
	err = engine(o).Create(ctx)
	out := f.out.take()
	if err == nil || !strings.Contains(err.Error(), "registry did not answer at 127.0.0.1:30500") || !strings.Contains(err.Error(), "within 3s") {
		t.Fatalf("create without a registry: %v, want it not answering within 3s\n%s", err, out)
	}
	if took := time.Since(started); took > 40*time.Second {
		t.Errorf("create without a registry took %s", took)
	}
	if !strings.Contains(out, "prosper image") || !strings.Contains(out, "FAILED") {
		t.Errorf("the failing phase is not shown:\n%s", out)
	}
}

// checkProsperImage checks that img runs binary as prosper's entrypoint.
func checkProsperImage(t *testing.T, img v1.Image, binary string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != image.ProsperBinary || cf.Architecture != runtime.GOARCH {
		t.Errorf("image entrypoint %v, architecture %s", cf.Config.Entrypoint, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers %d, %v: want the base's and prosper's", len(layers), err)
	}
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in prosper's layer: %v", image.ProsperBinary, err)
		}
		if "/"+hdr.Name != image.ProsperBinary {
			continue
		}
		h := sha256.New()
		if _, err := io.Copy(h, tr); err != nil {
			t.Fatal(err)
		}
		if got, w := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, w[:]) {
			t.Errorf("the image's %s is not the binary", image.ProsperBinary)
		}
		return
	}
}
