package kubetest

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestGoBaseImageBuildsAndRunsGit extracts the stand-in for the Go base and,
// chrooted into it, builds a program with its Go, runs it, and makes a git
// repository with its git through /bin/sh, as the control plane does in it.
func TestGoBaseImageBuildsAndRunsGit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	img := GoBaseImage(t)
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode).Perm()|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, h.Linkname), p)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode).Perm()); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}
	// A container runtime gives /dev; the chroot gets the one device git needs.
	if err := os.MkdirAll(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(root, "dev", "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "root", "main.go"), []byte("package main\n\nfunc main() { println(\"built in the base\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `set -e
# No /proc in a chroot: go finds its GOROOT from it in a container.
export GOROOT=/usr/local/go PATH=/usr/local/go/bin:/usr/bin:/bin HOME=/tmp GOCACHE=/tmp/cache GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
cd /root
go mod init example.com/hello
go build -o hello .
./hello 2>&1
git init --quiet --bare /tmp/repo.git && git --git-dir /tmp/repo.git config http.receivepack true && echo git ok`
	out, err := exec.Command("chroot", root, "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("in the base: %v\n%s", err, out)
	}
	for _, want := range []string{"built in the base", "git ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
