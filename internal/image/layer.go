package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The base layer's account files: root, and the non-root user the program
// runs as, whose home is the only place besides /tmp and /app it may write.
const (
	passwdFile = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	groupFile = "root:x:0:\nnonroot:x:65532:\n"
)

// baseLayer makes the layer every image starts from, instead of pulling a base
// image: a pull would make builds depend on a registry outside the cluster.
// Entries are written in sorted order.
func baseLayer(caFile string) (v1.Layer, error) {
	ca, err := caCertificates(caFile)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := &layerWriter{tw: tar.NewWriter(&buf)}
	w.dir("etc/", 0o755, 0)
	w.file("etc/group", 0o644, 0, []byte(groupFile))
	w.file("etc/passwd", 0o644, 0, []byte(passwdFile))
	if ca != nil {
		w.dir("etc/ssl/", 0o755, 0)
		w.dir("etc/ssl/certs/", 0o755, 0)
		w.file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, ca)
	}
	w.dir("home/", 0o755, 0)
	w.dir("home/nonroot/", 0o700, UID)
	w.dir("tmp/", 0o777|tarSticky, 0)
	if err := w.close(); err != nil {
		return nil, err
	}
	return layerFromBytes(buf.Bytes())
}

// caCertificates reads the CA bundle; the default one may be missing (a host
// without ca-certificates), a bundle the caller named may not.
func caCertificates(file string) ([]byte, error) {
	name := file
	if name == "" {
		name = DefaultCACertificates
	}
	b, err := os.ReadFile(name)
	if file == "" && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	return b, nil
}

// releaseLayer puts the tree in dir under app/, owned by the non-root user so
// that the modes mean in the container what they meant on the host, where the
// release belonged to the user running it. Symlinks are stored as symlinks,
// never followed, so no file outside dir can enter the image; one pointing
// outside dir is refused all the same, since it would break in the container.
func releaseLayer(dir string) (v1.Layer, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("release directory: %w", err)
	}
	rootInfo, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("release directory: %w", err)
	}
	if !rootInfo.IsDir() {
		return nil, fmt.Errorf("release directory %s is not a directory", dir)
	}
	var buf bytes.Buffer
	w := &layerWriter{tw: tar.NewWriter(&buf)}
	w.dir("app/", tarMode(rootInfo.Mode()), UID)
	// WalkDir visits entries in lexical order, which keeps the layer's bytes,
	// and so its digest, independent of the directory's on-disk order.
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := "app/" + rel
		switch mode := info.Mode(); {
		case mode.IsDir():
			w.dir(name+"/", tarMode(mode), UID)
		case mode.IsRegular():
			w.copyFile(name, tarMode(mode), p, info.Size())
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := checkLink(root, p, rel, target); err != nil {
				return err
			}
			w.symlink(name, target)
		default:
			return fmt.Errorf("%s: a %v cannot go into an image", rel, mode.Type())
		}
		return w.err
	})
	if err != nil {
		return nil, err
	}
	if err := w.close(); err != nil {
		return nil, err
	}
	return layerFromBytes(buf.Bytes())
}

// checkLink refuses a symlink at rel (p on the host) whose target leaves the
// release directory: an absolute target, one whose path climbs out, or one that
// resolves outside through other symlinks. A dangling link is judged by its
// path alone, since what it names may only exist at run time.
func checkLink(root, p, rel, target string) error {
	if path.IsAbs(target) || filepath.IsAbs(target) {
		return fmt.Errorf("%s -> %s: %w (absolute)", rel, target, ErrUnsafePath)
	}
	joined := path.Join(path.Dir(rel), filepath.ToSlash(target))
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("%s -> %s: %w", rel, target, ErrUnsafePath)
	}
	resolved, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s -> %s: %w", rel, target, err)
	}
	if r, err := filepath.Rel(root, resolved); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s -> %s: %w (resolves to %s)", rel, target, ErrUnsafePath, resolved)
	}
	return nil
}

// layerFromBytes makes an OCI layer of an uncompressed tar. The compressed
// bytes are cached: Push reads them once for the digest and once to upload.
func layerFromBytes(b []byte) (v1.Layer, error) {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	return l, nil
}
