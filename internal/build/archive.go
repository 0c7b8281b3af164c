package build

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// MaxUnpackedSize bounds the total size of the files Unpack writes.
const MaxUnpackedSize = 1 << 30

// maxEntries bounds the number of entries Unpack creates.
const maxEntries = 1_000_000

var (
	// ErrTooLarge is returned by Unpack for an archive over MaxUnpackedSize.
	ErrTooLarge = errors.New("source too large")
	// ErrUnsafePath is returned by Unpack for an entry that would land outside
	// the target directory, or a symlink that points outside it.
	ErrUnsafePath = errors.New("unsafe path in archive")
)

// PackDir writes the tree at dir as a tar.gz: regular files with their exec bits,
// directories and symlinks (as links, never followed). It leaves out .git
// anywhere, .prosper at the root, and what the root's .prosperignore lists.
func PackDir(dir string, w io.Writer) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	var rules ignoreRules
	if data, err := os.ReadFile(filepath.Join(root, ignoreFile)); err == nil {
		if rules, err = parseIgnore(string(data)); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", ignoreFile, err)
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.Name() == ".git" || rel == ".prosper" || rules.ignored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return addEntry(tw, p, rel, d)
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	return nil
}

// addEntry writes the file at p under the name rel. Sockets, pipes and devices
// are skipped: they are not source.
func addEntry(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Name: rel,
		Mode: int64(info.Mode().Perm()),
		// Whole seconds let the writer use the plain ustar format when names fit.
		ModTime: info.ModTime().Truncate(time.Second),
	}
	switch {
	case info.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	case info.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, filepath.ToSlash(target)
	default:
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// CopyN: a file that grows while it is packed must not overflow its header.
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

// Unpack extracts a tar.gz into dir, creating dir if needed. It refuses absolute
// paths, paths with "..", entries under a symlink, and symlinks pointing outside
// dir, with an error wrapping ErrUnsafePath; and archives that unpack to more
// than MaxUnpackedSize with ErrTooLarge.
func Unpack(r io.Reader, dir string) error {
	return unpack(r, dir, MaxUnpackedSize)
}

func unpack(r io.Reader, dir string, limit int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	// os.Root keeps every write inside dir even if a check below missed a case.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("unpack: not a tar.gz archive: %w", err)
	}
	tr := tar.NewReader(gz)
	var total int64
	links := map[string]bool{} // symlinks created so far
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack: read archive: %w", err)
		}
		if entries >= maxEntries {
			return fmt.Errorf("%w: more than %d files; list what the app does not need in %s", ErrTooLarge, maxEntries, ignoreFile)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // git archive's record of the commit: no file
		}
		name, err := entryName(hdr.Name, links)
		if err != nil {
			return err
		}
		if name == "." {
			continue // the root itself, as in "./"
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, fs.FileMode(hdr.Mode).Perm()|0o700)
		case tar.TypeReg:
			if total += hdr.Size; total > limit {
				return fmt.Errorf("%w: more than %s unpacked; list large files the app does not need in %s",
					ErrTooLarge, sizeText(limit), ignoreFile)
			}
			err = writeFile(root, name, hdr, tr)
		case tar.TypeSymlink:
			if err := checkLink(name, hdr.Linkname); err != nil {
				return err
			}
			if err = root.MkdirAll(path.Dir(name), 0o755); err == nil {
				err = root.Symlink(hdr.Linkname, name)
			}
			links[name] = true
		default:
			return fmt.Errorf("unpack: %q is a %s; only files, directories and symlinks are supported",
				name, typeName(hdr.Typeflag))
		}
		if err != nil {
			return fmt.Errorf("unpack %q: %w", name, err)
		}
	}
}

// entryName cleans an entry's name and refuses one that leaves the target or
// goes through a symlink the archive created.
func entryName(raw string, links map[string]bool) (string, error) {
	if raw == "" || strings.HasPrefix(raw, "/") || strings.Contains(raw, `\`) || filepath.IsAbs(raw) {
		return "", fmt.Errorf("%w: %q", ErrUnsafePath, raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q goes up with \"..\"", ErrUnsafePath, raw)
		}
	}
	name := path.Clean(raw)
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if links[dir] {
			return "", fmt.Errorf("%w: %q is inside the symlink %q", ErrUnsafePath, raw, dir)
		}
	}
	return name, nil
}

// checkLink refuses a symlink whose target is absolute or climbs out of the tree.
// Targets go up first and then down ("../lib/x"): a ".." after a name could climb
// through another symlink, which a purely textual check cannot follow.
func checkLink(name, target string) error {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) {
		return fmt.Errorf("%w: symlink %q points to the absolute path %q", ErrUnsafePath, name, target)
	}
	up, down := 0, 0
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if down > 0 {
				return fmt.Errorf("%w: symlink %q has \"..\" after a name in its target %q", ErrUnsafePath, name, target)
			}
			up++
		default:
			down++
		}
	}
	depth := strings.Count(name, "/") // directories between the root and the link
	if up > depth {
		return fmt.Errorf("%w: symlink %q points outside the tree to %q", ErrUnsafePath, name, target)
	}
	return nil
}

func writeFile(root *os.Root, name string, hdr *tar.Header, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	// Owner read-write always: builds write next to the sources and a re-unpack
	// must be able to overwrite.
	perm := fs.FileMode(hdr.Mode).Perm() | 0o600
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The umask may have cleared exec bits that the app needs.
	if err := root.Chmod(name, perm); err != nil {
		return err
	}
	return root.Chtimes(name, hdr.ModTime, hdr.ModTime)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("entry of type %q", t)
}

func sizeText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
