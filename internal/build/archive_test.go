package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestPackUnpackRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"main.go":              mainGo,
		"static/css/site.css":  "body {}",
		".prosperignore":       "*.log\n/tmp/\n",
		"debug.log":            "noise",
		"tmp/cache":            "x",
		".git/HEAD":            "ref: refs/heads/main",
		"vendor/lib/.git":      "gitdir: ../../.git/modules/lib", // a submodule's .git file
		".prosper/bin/app":     "old build",
		"sub/.prosper/keep.me": "only the root .prosper is platform-owned",
	})
	if err := os.Chmod(filepath.Join(src, "main.go"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("static/css/site.css", filepath.Join(src, "site.css")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../main.go", filepath.Join(src, "static/main.go")); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "main.go"), mtime, mtime); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := PackDir(src, &buf); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "release")
	if err := Unpack(&buf, dst); err != nil {
		t.Fatal(err)
	}

	want := []string{
		".prosperignore", "empty/", "main.go", "site.css -> static/css/site.css", "static/",
		"static/css/", "static/css/site.css", "static/main.go -> ../main.go", "sub/",
		"sub/.prosper/", "sub/.prosper/keep.me", "vendor/", "vendor/lib/",
	}
	if got := listTree(t, dst); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unpacked tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fi, err := os.Stat(filepath.Join(dst, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("main.go lost its exec bits: %v", fi.Mode())
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("main.go mtime = %v, want %v", fi.ModTime(), mtime)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "static/main.go")); err != nil || string(b) != mainGo {
		t.Errorf("symlink content = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "static/css/site.css")); err != nil || fi.Mode().Perm()&0o111 != 0 {
		t.Errorf("site.css mode = %v, %v", fi.Mode(), err)
	}
}

// listTree lists a tree as "name", "dir/" and "link -> target", sorted.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rel += " -> " + target
		case d.IsDir():
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// entry is one member of a hand-made archive.
type entry struct {
	name     string
	typ      byte
	body     string
	linkname string
	size     int64 // header size, when it should differ from len(body)
}

// makeArchive writes entries as a tar.gz the way a hostile client could.
func makeArchive(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		size := int64(len(e.body))
		if e.size > 0 {
			size = e.size
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: size, Linkname: e.linkname}
		switch e.typ {
		case tar.TypeXGlobalHeader:
			// What git archive writes first.
			hdr = &tar.Header{Typeflag: e.typ, PAXRecords: map[string]string{"comment": "0123abcd"}}
		case tar.TypeReg:
		default:
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			// A header that promises more than is sent: leave the archive cut
			// short, as an attacker's would be; Unpack must stop at the header.
			gz.Close()
			return &buf
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestUnpackRefusesUnsafeArchives(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		wantErr string
	}{
		{"absolute path", []entry{{name: "/etc/cron.d/x", typ: tar.TypeReg, body: "x"}}, `"/etc/cron.d/x"`},
		{"parent path", []entry{{name: "../outside", typ: tar.TypeReg, body: "x"}}, `"../outside" goes up`},
		{"parent inside path", []entry{{name: "a/../../outside", typ: tar.TypeReg, body: "x"}}, `goes up`},
		{"absolute symlink", []entry{{name: "passwd", typ: tar.TypeSymlink, linkname: "/etc/passwd"}}, `points to the absolute path "/etc/passwd"`},
		{"escaping symlink", []entry{{name: "a/up", typ: tar.TypeSymlink, linkname: "../../x"}}, `points outside the tree`},
		{"write through a symlink", []entry{
			{name: "link", typ: tar.TypeSymlink, linkname: "."},
			{name: "link/file", typ: tar.TypeReg, body: "x"},
		}, `"link/file" is inside the symlink "link"`},
		{"symlink climbing through a symlink", []entry{
			{name: "d/l", typ: tar.TypeSymlink, linkname: ".."},
			{name: "a", typ: tar.TypeSymlink, linkname: "d/l/.."},
		}, `has ".." after a name`},
		{"hard link", []entry{{name: "h", typ: tar.TypeLink, linkname: "x"}}, `hard link`},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, `device`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "release")
			err := Unpack(makeArchive(t, tt.entries...), dst)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "goes up") || strings.Contains(tt.wantErr, "symlink") || strings.Contains(tt.wantErr, "absolute") || strings.Contains(tt.wantErr, "outside") {
				if !errors.Is(err, ErrUnsafePath) {
					t.Errorf("err = %v, want ErrUnsafePath", err)
				}
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("something was written next to the target: %v", entries)
			}
		})
	}
}

func TestUnpackAcceptsInnerSymlinks(t *testing.T) {
	dst := t.TempDir()
	err := Unpack(makeArchive(t,
		entry{typ: tar.TypeXGlobalHeader},
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "a/b/c.txt", typ: tar.TypeReg, body: "c"},
		entry{name: "a/b/up", typ: tar.TypeSymlink, linkname: "../../a/b/c.txt"},
		entry{name: "top", typ: tar.TypeSymlink, linkname: "./a/b"},
	), dst)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "top/up")); err != nil || string(b) != "c" {
		t.Errorf("read through links = %q, %v", b, err)
	}
}

func TestUnpackSizeLimit(t *testing.T) {
	t.Run("header over the limit", func(t *testing.T) {
		// The archive claims 2 GiB but sends a few bytes: the check must come
		// before any data is read or written.
		archive := makeArchive(t, entry{name: "big.bin", typ: tar.TypeReg, body: "abc", size: 2 << 30})
		err := Unpack(archive, t.TempDir())
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		want := "source too large: more than 1 GiB unpacked; list large files the app does not need in .prosperignore"
		if err.Error() != want {
			t.Errorf("message = %q", err)
		}
	})
	t.Run("total over the limit", func(t *testing.T) {
		archive := makeArchive(t,
			entry{name: "a", typ: tar.TypeReg, body: strings.Repeat("a", 600)},
			entry{name: "b", typ: tar.TypeReg, body: strings.Repeat("b", 600)},
		)
		if err := unpack(archive, t.TempDir(), 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("total at the limit", func(t *testing.T) {
		archive := makeArchive(t,
			entry{name: "a", typ: tar.TypeReg, body: strings.Repeat("a", 500)},
			entry{name: "b", typ: tar.TypeReg, body: strings.Repeat("b", 500)},
		)
		if err := unpack(archive, t.TempDir(), 1000); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnpackNotAnArchive(t *testing.T) {
	err := Unpack(strings.NewReader("hello"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a tar.gz archive") {
		t.Errorf("err = %v", err)
	}
}

func TestPackDirBadIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{".prosperignore": "[\n"})
	if err := PackDir(dir, io.Discard); err == nil || !strings.Contains(err.Error(), ".prosperignore:1") {
		t.Errorf("err = %v", err)
	}
}
