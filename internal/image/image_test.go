package image

import (
	"archive/tar"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// writeTree creates files under dir: a name ending in "/" is a directory, a
// value starting with "->" a symlink, anything else a file with that content.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, name)
		content := files[name]
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// caFile writes a stand-in CA bundle, so that tests do not depend on the host's.
func caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// extract writes the flattened filesystem of img under dir and returns its tar
// headers by path.
func extract(t *testing.T, img v1.Image, dir string) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !filepath.IsLocal(name) {
			t.Fatalf("image entry %q is not a local path", h.Name)
		}
		headers[name] = h
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode).Perm()|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, os.FileMode(h.Mode).Perm())
			}
		default:
			t.Fatalf("unexpected entry %q of type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return headers
}

// TestFromReleaseRunsProgram builds a real static Go binary into an image, goes
// through the tarball export a runtime would load, and runs the program from the
// extracted filesystem with the image's command, directory and environment.
func TestFromReleaseRunsProgram(t *testing.T) {
	release := t.TempDir()
	writeTree(t, release, map[string]string{
		"data/greeting.txt": "hello from the image",
		"current":           "->data",
	})
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(release, ".prosper/bin/app"), "./testdata/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Chmod(release, 0o750); err != nil {
		t.Fatal(err)
	}
	ca := caFile(t)

	built, err := FromRelease(release, []string{".prosper/bin/app", "one", "two"}, map[string]string{"GREETING": "x"}, Options{Port: 9000, CACertificates: ca})
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(exported, nil, built); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(exported, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The tarball's manifest is Docker's, so the image digest differs; the
	// config and the layers must be the same bytes.
	wantConfig, _ := built.ConfigName()
	if got, err := img.ConfigName(); err != nil || got != wantConfig {
		t.Fatalf("exported config %s (%v), built %s", got, err, wantConfig)
	}
	if got, want := layerDiffIDs(t, img), layerDiffIDs(t, built); !slices.Equal(got, want) {
		t.Fatalf("exported layers %v, built %v", got, want)
	}

	root := t.TempDir()
	headers := extract(t, img, root)
	for _, c := range []struct {
		path       string
		typ        byte
		mode       int64
		uid        int
		linkTarget string
	}{
		{"app", tar.TypeDir, 0o750, UID, ""},
		{"app/.prosper/bin/app", tar.TypeReg, 0o755, UID, ""},
		{"app/data/greeting.txt", tar.TypeReg, 0o644, UID, ""},
		{"app/current", tar.TypeSymlink, 0o777, UID, "data"},
		{"etc/passwd", tar.TypeReg, 0o644, 0, ""},
		{"etc/group", tar.TypeReg, 0o644, 0, ""},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, ""},
		{"tmp", tar.TypeDir, 0o1777, 0, ""},
		{"home/nonroot", tar.TypeDir, 0o700, UID, ""},
	} {
		h := headers[c.path]
		if h == nil {
			t.Errorf("image has no %s", c.path)
			continue
		}
		if h.Typeflag != c.typ || h.Mode != c.mode || h.Uid != c.uid || h.Linkname != c.linkTarget {
			t.Errorf("%s: type %c mode %o uid %d link %q, want %c %o %d %q", c.path, h.Typeflag, h.Mode, h.Uid, h.Linkname, c.typ, c.mode, c.uid, c.linkTarget)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", c.path, h.ModTime)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.Contains(string(b), ":65532:65532:") {
		t.Errorf("etc/passwd has no user 65532:\n%s", b)
	}
	if got, want := mustRead(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")), mustRead(t, ca); got != want {
		t.Errorf("CA bundle %q, want %q", got, want)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("platform %s/%s created %v", cf.OS, cf.Architecture, cf.Created)
	}
	if want := []string{"/app/.prosper/bin/app", "one", "two"}; !slices.Equal(c.Entrypoint, want) {
		t.Errorf("entrypoint %q, want %q", c.Entrypoint, want)
	}
	if c.WorkingDir != "/app" || c.User != "65532:65532" {
		t.Errorf("working dir %q user %q", c.WorkingDir, c.User)
	}
	if _, ok := c.ExposedPorts["9000/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 9000/tcp", c.ExposedPorts)
	}
	if !slices.Contains(c.Env, "PORT=9000") || !slices.Contains(c.Env, "GREETING=x") || !slices.IsSorted(c.Env) {
		t.Errorf("env %q", c.Env)
	}

	// Run the program as the image says: the entrypoint from the extracted
	// tree, in the working directory, with the image's environment.
	run := exec.Command(filepath.Join(root, c.Entrypoint[0]), c.Entrypoint[1:]...)
	run.Dir = filepath.Join(root, c.WorkingDir)
	run.Env = c.Env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("run the image's program: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "hello from the image args=one,two port=9000"; got != want {
		t.Fatalf("program said %q, want %q", got, want)
	}
}

func mustDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func layerDiffIDs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []v1.Hash
	for _, l := range layers {
		id, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFromReleaseIsReproducible checks that the digest depends on the content
// and modes of the release and on nothing else: not where it lies, not when
// its files were written, not the order of the env map.
func TestFromReleaseIsReproducible(t *testing.T) {
	tree := map[string]string{"bin/app": "binary", "static/a.css": "a", "static/b.css": "b", "link": "->static"}
	ca := caFile(t)
	env := map[string]string{"A": "1", "B": "2", "C": "3", "D": "4"}
	digestOf := func(t *testing.T, dir string) string {
		t.Helper()
		img, err := FromRelease(dir, []string{"bin/app"}, env, Options{CACertificates: ca})
		if err != nil {
			t.Fatal(err)
		}
		return mustDigest(t, img)
	}
	first := t.TempDir()
	writeTree(t, first, tree)
	want := digestOf(t, first)

	second := t.TempDir()
	writeTree(t, second, tree)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(second, "static/a.css"), old, old); err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, second); got != want {
		t.Fatalf("same tree elsewhere with other mtimes: digest %s, want %s", got, want)
	}

	changes := []struct {
		name   string
		change func(dir string) error
	}{
		{"content", func(dir string) error { return os.WriteFile(filepath.Join(dir, "static/a.css"), []byte("A"), 0o644) }},
		{"mode", func(dir string) error { return os.Chmod(filepath.Join(dir, "bin/app"), 0o755) }},
		{"new file", func(dir string) error { return os.WriteFile(filepath.Join(dir, "static/c.css"), nil, 0o644) }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree)
			if err := c.change(dir); err != nil {
				t.Fatal(err)
			}
			if got := digestOf(t, dir); got == want {
				t.Fatalf("digest %s did not change", got)
			}
		})
	}
}

func TestFromReleaseRefusesEscapingLinks(t *testing.T) {
	cases := []struct {
		name   string
		tree   map[string]string
		refuse bool
	}{
		{"inside", map[string]string{"a/f": "x", "a/l": "->../a/f"}, false},
		{"dangling inside", map[string]string{"l": "->run/app.sock"}, false},
		{"parent", map[string]string{"l": "->../outside"}, true},
		{"deep climb", map[string]string{"a/b/l": "->../../../outside"}, true},
		{"absolute", map[string]string{"l": "->/etc/passwd"}, true},
		{"through another link", map[string]string{"self": "->.", "l": "->self/../secret"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("host"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "release")
			writeTree(t, dir, c.tree)
			_, err := FromRelease(dir, []string{"app"}, nil, Options{CACertificates: caFile(t)})
			if c.refuse && !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			if !c.refuse && err != nil {
				t.Fatalf("err = %v, want none", err)
			}
		})
	}
}

func TestFromReleaseOptions(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"app": "x"})
	cases := []struct {
		name     string
		env      map[string]string
		opts     Options
		wantArch string
		wantPort string
		wantErr  string
	}{
		{"defaults", nil, Options{}, "amd64", "8080", ""},
		{"arm64", nil, Options{Arch: "arm64"}, "arm64", "8080", ""},
		{"port from env", map[string]string{"PORT": "3000"}, Options{}, "amd64", "3000", ""},
		{"env and options agree", map[string]string{"PORT": "3000"}, Options{Port: 3000}, "amd64", "3000", ""},
		{"env and options disagree", map[string]string{"PORT": "3000"}, Options{Port: 4000}, "", "", "env says 3000"},
		{"port out of range", nil, Options{Port: 70000}, "", "", "out of range"},
		{"unknown arch", nil, Options{Arch: "riscv64"}, "", "", "want amd64 or arm64"},
		{"missing CA bundle named", nil, Options{CACertificates: filepath.Join(dir, "none.crt")}, "", "", "CA certificates"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.CACertificates == "" {
				c.opts.CACertificates = caFile(t)
			}
			img, err := FromRelease(dir, []string{"app"}, c.env, c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != c.wantArch || !slices.Contains(cf.Config.Env, "PORT="+c.wantPort) {
				t.Fatalf("arch %s env %q, want %s and PORT=%s", cf.Architecture, cf.Config.Env, c.wantArch, c.wantPort)
			}
			if _, ok := cf.Config.ExposedPorts[c.wantPort+"/tcp"]; !ok {
				t.Fatalf("exposed %v, want %s/tcp", cf.Config.ExposedPorts, c.wantPort)
			}
			// A bare program name is left for PATH to find.
			if !slices.Equal(cf.Config.Entrypoint, []string{"app"}) {
				t.Fatalf("entrypoint %q", cf.Config.Entrypoint)
			}
		})
	}
}

func TestFromReleaseRefusesNoCommand(t *testing.T) {
	if _, err := FromRelease(t.TempDir(), nil, nil, Options{}); err == nil {
		t.Fatal("no error for an empty command")
	}
}
