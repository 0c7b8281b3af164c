package kubetest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Nothing can be pulled from Docker Hub here, so the tests of builds on a
// language base image (node:22-bookworm-slim, python:3.12-slim-bookworm) run
// on stand-ins made of this machine's files: the interpreter, its library,
// the shared libraries ldd lists for them, /bin/sh and /usr/bin/env, as the
// official images have them.

// langBasePath is the PATH of the stand-ins, the official images' PATH.
const langBasePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// NodeBase pushes a stand-in for the official Node.js image to the registry
// at host:port (Registry) and returns its reference by tag: this machine's
// /usr/bin/node and npm, which the test skips without, or fails without
// under PROSPER_REQUIRE_KUBE=1.
func NodeBase(t testing.TB, registry string) string {
	t.Helper()
	return nodeBase(t).push(t, registry+"/prosper-test/node:22-bookworm-slim", "NODE_ENV=production")
}

func nodeBase(t testing.TB) *langBase {
	t.Helper()
	need(t, "/usr/bin/node", "/usr/bin/npm")
	// npm lives in /usr/lib/node_modules (Node.js's own packages) or in
	// /usr/share/nodejs with the modules it needs (Debian's).
	cli, err := filepath.EvalSymlinks("/usr/bin/npm")
	if err != nil {
		t.Fatalf("kubetest: node base: %v", err)
	}
	b := newLangBase()
	b.add(t, "/usr/bin/node")
	b.tree(t, filepath.Dir(filepath.Dir(cli)), nil)
	b.link("/usr/bin/npm", cli)
	if _, err := os.Stat("/usr/share/nodejs"); err == nil {
		b.tree(t, "/usr/share/nodejs", nil)
	}
	return b
}

// PythonBase pushes a stand-in for the official Python image to the
// registry at host:port and returns its reference by tag: Debian's
// /usr/bin/python3.11 and /usr/lib/python3.11 (the apt package python3, not
// a pyenv build), without its tests and caches.
func PythonBase(t testing.TB, registry string) string {
	t.Helper()
	return pythonBase(t).push(t, registry+"/prosper-test/python:3.11-slim-bookworm", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1")
}

func pythonBase(t testing.TB) *langBase {
	t.Helper()
	need(t, "/usr/bin/python3.11", "/usr/lib/python3.11/os.py")
	b := newLangBase()
	b.add(t, "/usr/bin/python3.11")
	b.link("/usr/bin/python3", "python3.11")
	b.link("/usr/bin/python", "python3.11")
	b.tree(t, "/usr/lib/python3.11", func(rel string, d fs.DirEntry) bool {
		return d.IsDir() && (d.Name() == "__pycache__" || rel == "test" || rel == "idlelib" || rel == "tkinter" || rel == "turtledemo")
	})
	return b
}

// need skips the test, or fails it under PROSPER_REQUIRE_KUBE=1, when this
// machine lacks what a stand-in is made of.
func need(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("PROSPER_REQUIRE_KUBE") != "" {
				t.Fatalf("kubetest: a language base needs %s: %v", p, err)
			}
			t.Skipf("kubetest: a language base needs %s: %v", p, err)
		}
	}
}

// langBase is the file tree of a stand-in, by path in the image.
type langBase struct {
	files map[string]baseEntry
}

// baseEntry is a file of the image: a copy of a host file, a symlink, or a
// directory.
type baseEntry struct {
	src    string // host file whose content it has
	link   string // symlink target
	dir    bool
	mode   fs.FileMode
	follow bool // an ELF file whose libraries are added too
}

func newLangBase() *langBase {
	b := &langBase{files: map[string]baseEntry{}}
	// Debian's /bin/sh is dash, the shell of the official images; env runs
	// npm's "#!/usr/bin/env node".
	b.files["/bin/sh"] = baseEntry{src: "/bin/dash", mode: 0o755, follow: true}
	b.files["/usr/bin/env"] = baseEntry{src: "/usr/bin/env", mode: 0o755, follow: true}
	b.files["/tmp"] = baseEntry{dir: true, mode: fs.ModeDir | fs.ModeSticky | 0o777}
	b.files["/etc/passwd"] = baseEntry{mode: 0o644}
	b.files["/etc/group"] = baseEntry{mode: 0o644}
	return b
}

// add copies a host file, its symlinks resolved, to the same path.
func (b *langBase) add(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("kubetest: language base: %v", err)
	}
	b.files[path] = baseEntry{src: path, mode: fi.Mode().Perm(), follow: true}
}

// link adds a symlink.
func (b *langBase) link(path, target string) {
	b.files[path] = baseEntry{link: target, mode: fs.ModeSymlink | 0o777}
}

// tree copies a host directory to the same path: relative symlinks kept,
// absolute ones replaced by what they point to (or left out when they
// dangle), and what skip says left out.
func (b *langBase) tree(t testing.TB, root string, skip func(rel string, d fs.DirEntry) bool) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if skip != nil && p != root && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			b.files[p] = baseEntry{dir: true, mode: fs.ModeDir | mode.Perm()}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				b.link(p, target)
				return nil
			}
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				b.files[p] = baseEntry{src: p, mode: fi.Mode().Perm(), follow: isELF(p)}
			}
		case mode.IsRegular():
			b.files[p] = baseEntry{src: p, mode: mode.Perm(), follow: strings.Contains(p, ".so")}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("kubetest: language base from %s: %v", root, err)
	}
}

// libraries adds the shared libraries of every ELF file, as ldd finds them
// on this machine, at the paths the programs ask for.
func (b *langBase) libraries(t testing.TB) {
	t.Helper()
	seen := map[string]bool{}
	for {
		var todo []string
		for p, e := range b.files {
			if e.follow && !seen[p] {
				todo = append(todo, p)
			}
		}
		if len(todo) == 0 {
			return
		}
		sort.Strings(todo)
		for _, p := range todo {
			seen[p] = true
			src := b.files[p].src
			if !isELF(src) {
				continue
			}
			for _, lib := range ldd(t, src) {
				if _, ok := b.files[lib]; !ok {
					b.files[lib] = baseEntry{src: lib, mode: 0o755, follow: true}
				}
			}
		}
	}
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// ldd lists the libraries a program or library loads, with the loader; none
// for a static program or a file ldd cannot read.
func ldd(t testing.TB, path string) []string {
	t.Helper()
	libs, err := sharedLibraries(path)
	if err != nil {
		return nil
	}
	return libs
}

// push writes the tree as a one-layer image with env and PATH and pushes it
// as ref.
func (b *langBase) push(t testing.TB, ref string, env ...string) string {
	t.Helper()
	layerFile := filepath.Join(t.TempDir(), "layer.tar")
	if err := b.writeTar(t, layerFile); err != nil {
		t.Fatalf("kubetest: language base: %v", err)
	}
	layer, err := tarball.LayerFromFile(layerFile, tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		t.Fatalf("kubetest: language base layer: %v", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatalf("kubetest: language base: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = append([]string{"PATH=" + langBasePath}, env...)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("kubetest: language base %s: %v", ref, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("kubetest: push language base %s: %v", ref, err)
	}
	return ref
}

// writeTar writes the tree with the libraries it needs, parents first, owned
// by root.
func (b *langBase) writeTar(t testing.TB, path string) error {
	t.Helper()
	b.libraries(t)
	all := map[string]baseEntry{}
	for p, e := range b.files {
		all[p] = e
		for dir := filepath.Dir(p); dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = baseEntry{dir: true, mode: fs.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range paths {
		if err := writeEntry(tw, p, all[p]); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// baseAccounts are the stand-ins' users: root only, as in the official
// images, which do not know prosper's non-root user either.
const (
	basePasswd = "root:x:0:0:root:/root:/bin/sh\n"
	baseGroup  = "root:x:0:\n"
)

func writeEntry(tw *tar.Writer, p string, e baseEntry) error {
	h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: int64(e.mode.Perm()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if e.mode&fs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	switch {
	case e.dir:
		h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		return tw.WriteHeader(h)
	case e.link != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		return tw.WriteHeader(h)
	case e.src == "":
		content := map[string]string{"/etc/passwd": basePasswd, "/etc/group": baseGroup}[p]
		h.Typeflag, h.Size = tar.TypeReg, int64(len(content))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.WriteString(tw, content)
		return err
	}
	src, err := os.Open(e.src) // follows symlinks: the image gets the file
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	h.Typeflag, h.Size = tar.TypeReg, fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}
