package kubetest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Nothing can be pulled here, so prosper's image is tested on a stand-in for
// its default base (the official golang image) made of this machine's files:
// the Go toolchain at /usr/local/go, git with its helpers, templates and the
// shared libraries ldd lists, /bin/sh, the CA certificates, root in
// /etc/passwd and /tmp. Its one layer is cached under ~/.cache/prosper, keyed
// by Go version: making it takes seconds that every run need not pay.

// goBasePath is the stand-in's PATH, the official Go image's.
const goBasePath = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// goBaseLayerVersion names the cache file's format; change it when the
// layer's content changes.
const goBaseLayerVersion = "1"

// GoBase pushes the stand-in for the Go base image to the registry at
// host:port and returns its reference by digest. Pushing to a plain-HTTP
// registry at a non-loopback address is fine: it is always insecure here.
func GoBase(t testing.TB, registry string) string {
	t.Helper()
	img := GoBaseImage(t)
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("kubetest: go base digest: %v", err)
	}
	ref, err := name.ParseReference(registry+"/prosper-test/golang:bookworm", name.Insecure)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("kubetest: push go base: %v", err)
	}
	return ref.Context().String() + "@" + d.String()
}

// GoBaseImage returns the stand-in for the Go base image, for this machine's
// platform, making its layer if the cache has none.
func GoBaseImage(t testing.TB) v1.Image {
	t.Helper()
	goroot, version := goEnv(t, "GOROOT"), goEnv(t, "GOVERSION")
	for _, p := range []string{filepath.Join(goroot, "bin", "go"), "/usr/bin/git", "/bin/sh", "/usr/lib/git-core"} {
		if _, err := os.Stat(p); err != nil {
			msg := "kubetest: the Go base needs " + p + " (apt-get install git)"
			if os.Getenv(EnvRequireKube) == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	file := filepath.Join(cache, "prosper", fmt.Sprintf("kubetest-gobase-%s-%s-v%s.tar.gz", version, runtime.GOARCH, goBaseLayerVersion))
	if _, err := os.Stat(file); err != nil {
		start := time.Now()
		if err := writeGoBaseLayer(file, goroot); err != nil {
			t.Fatalf("kubetest: go base layer: %v", err)
		}
		t.Logf("kubetest: made the Go base layer %s in %s", file, time.Since(start).Round(time.Millisecond))
	}
	layer, err := tarball.LayerFromFile(file, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatalf("kubetest: go base layer: %v", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("kubetest: go base: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("kubetest: go base: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Env = []string{"PATH=" + goBasePath, "GOTOOLCHAIN=local"}
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("kubetest: go base: %v", err)
	}
	return img
}

func goEnv(t testing.TB, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("kubetest: go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

// goBaseEntry is one file of the layer: a host file or directory (src), a
// symlink, or generated content.
type goBaseEntry struct {
	typ     byte
	mode    int64
	src     string
	target  string
	content []byte
}

// goBaseFiles collects the layer's entries by path (without the leading
// slash), each with its parent directories.
type goBaseFiles map[string]goBaseEntry

// addPath adds the host path p, following symlinks on the way (bin ->
// usr/bin on a merged-/usr Debian) and recording them as symlinks, and, for
// a directory, the tree under it that keep allows.
func (f goBaseFiles) addPath(p string, keep func(path string, d fs.DirEntry) bool) error {
	parts := strings.Split(strings.Trim(filepath.Clean(p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		info, err := os.Lstat(next)
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			f[strings.TrimPrefix(next, "/")] = goBaseEntry{typ: tar.TypeSymlink, mode: 0o777, target: target}
			resolved := target
			if !filepath.IsAbs(resolved) {
				resolved = filepath.Join(cur, target)
			}
			return f.addPath(filepath.Join(append([]string{resolved}, parts[i+1:]...)...), keep)
		}
		if i < len(parts)-1 || !info.IsDir() {
			f.addInfo(next, info)
			cur = next
			continue
		}
		return filepath.WalkDir(next, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if keep != nil && !keep(q, d) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(q)
				if err != nil {
					return err
				}
				f[strings.TrimPrefix(q, "/")] = goBaseEntry{typ: tar.TypeSymlink, mode: 0o777, target: target}
				return nil
			}
			f.addInfo(q, info)
			return nil
		})
	}
	return nil
}

func (f goBaseFiles) addInfo(p string, info fs.FileInfo) {
	name := strings.TrimPrefix(p, "/")
	switch {
	case info.IsDir():
		f[name] = goBaseEntry{typ: tar.TypeDir, mode: int64(info.Mode().Perm())}
	case info.Mode().IsRegular():
		f[name] = goBaseEntry{typ: tar.TypeReg, mode: int64(info.Mode().Perm()), src: p}
	}
}

// keepGo leaves out of GOROOT what building a program does not need: the API
// files, docs, the toolchain's own tests and test data.
func keepGo(goroot string) func(string, fs.DirEntry) bool {
	return func(p string, d fs.DirEntry) bool {
		rel, _ := filepath.Rel(goroot, p)
		switch {
		case d.IsDir() && slices.Contains([]string{"api", "doc", "misc", "test"}, rel):
			return false
		case d.IsDir() && d.Name() == "testdata":
			return false
		case !d.IsDir() && strings.HasSuffix(d.Name(), "_test.go"):
			return false
		}
		return true
	}
}

// sharedLibraries lists the libraries ldd says the program at p loads, the
// loader included.
func sharedLibraries(p string) ([]string, error) {
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", p, err)
	}
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		// "libc.so.6 => /lib/.../libc.so.6 (0x...)", or the loader's own
		// "/lib64/ld-linux-x86-64.so.2 (0x...)".
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if strings.HasPrefix(f, "/") && (i == 0 || fields[i-1] == "=>") {
				libs = append(libs, f)
			}
		}
	}
	return libs, nil
}

// writeGoBaseLayer writes the stand-in's layer, gzipped, to file (through a
// temporary file, so that a run that stops halfway leaves no broken cache).
func writeGoBaseLayer(file, goroot string) error {
	f := goBaseFiles{}
	if err := f.addPath(goroot, keepGo(goroot)); err != nil {
		return err
	}
	for _, p := range []string{"/usr/bin/git", "/usr/lib/git-core", "/usr/share/git-core/templates", "/bin/sh", goBaseCACertificates} {
		if err := f.addPath(p, nil); err != nil {
			return err
		}
	}
	for _, prog := range []string{"/usr/bin/git", "/bin/sh"} {
		libs, err := sharedLibraries(prog)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			if err := f.addPath(lib, nil); err != nil {
				return err
			}
		}
	}
	f["etc"] = goBaseEntry{typ: tar.TypeDir, mode: 0o755}
	f["etc/passwd"] = goBaseEntry{typ: tar.TypeReg, mode: 0o644, content: []byte("root:x:0:0:root:/root:/bin/sh\n")}
	f["etc/group"] = goBaseEntry{typ: tar.TypeReg, mode: 0o644, content: []byte("root:x:0:\n")}
	f["root"] = goBaseEntry{typ: tar.TypeDir, mode: 0o700}
	f["tmp"] = goBaseEntry{typ: tar.TypeDir, mode: 0o777 | 0o1000}

	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".gobase-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := f.write(tw); err != nil {
		tmp.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// goBaseCACertificates is the host's CA bundle, which the stand-in carries.
const goBaseCACertificates = "/etc/ssl/certs/ca-certificates.crt"

// write writes the entries in path order, parents first; a file linked to
// one written already becomes a hard link to it (git's helpers are links to
// git).
func (f goBaseFiles) write(tw *tar.Writer) error {
	written := map[[2]uint64]string{}
	epoch := time.Unix(0, 0).UTC()
	for _, name := range slices.Sorted(maps.Keys(f)) {
		e := f[name]
		h := &tar.Header{Name: name, Typeflag: e.typ, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.target
		case tar.TypeReg:
			if e.src == "" {
				h.Size = int64(len(e.content))
				break
			}
			info, err := os.Stat(e.src)
			if err != nil {
				return err
			}
			st := info.Sys().(*syscall.Stat_t)
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := written[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				break
			}
			written[key] = name
			h.Size = info.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if e.src == "" {
			if _, err := tw.Write(e.content); err != nil {
				return err
			}
			continue
		}
		if err := copyInto(tw, e.src, h.Size); err != nil {
			return err
		}
	}
	return nil
}

func copyInto(tw *tar.Writer, src string, size int64) error {
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := bufio.NewReaderSize(r, 1<<16).WriteTo(tw)
	if err == nil && n != size {
		err = fmt.Errorf("%s changed while it was copied", src)
	}
	return err
}
