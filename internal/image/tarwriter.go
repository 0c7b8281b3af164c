package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Mode bits of tar headers beyond the permissions.
const (
	tarSetuid = 0o4000
	tarSetgid = 0o2000
	tarSticky = 0o1000
)

// layerWriter writes tar entries with everything that varies between hosts and
// builds fixed: timestamps are the epoch, owners are numeric, no user names. It
// keeps the first error so that a run of writes is checked once.
type layerWriter struct {
	tw  *tar.Writer
	err error
}

func (w *layerWriter) header(h *tar.Header) {
	if w.err != nil {
		return
	}
	h.ModTime = epoch
	h.Format = tar.FormatPAX
	w.err = w.tw.WriteHeader(h)
}

func (w *layerWriter) dir(name string, mode int64, owner int) {
	w.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, Uid: owner, Gid: owner})
}

func (w *layerWriter) file(name string, mode int64, owner int, content []byte) {
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: owner, Gid: owner, Size: int64(len(content))})
	if w.err == nil {
		_, w.err = w.tw.Write(content)
	}
}

func (w *layerWriter) symlink(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, Uid: UID, Gid: GID})
}

// copyFile writes the host file src as name with the size it had when the tree
// was walked; a file that shrank since is an error, one that grew is cut.
func (w *layerWriter) copyFile(name string, mode int64, src string, size int64) {
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: UID, Gid: GID, Size: size})
	if w.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		w.err = err
		return
	}
	defer f.Close()
	if _, err := io.CopyN(w.tw, f, size); err != nil {
		w.err = fmt.Errorf("copy %s: %w", src, err)
	}
}

func (w *layerWriter) close() error {
	if w.err != nil {
		return w.err
	}
	return w.tw.Close()
}

// tarMode converts Go's file mode to the Unix bits a tar header holds.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= tarSetuid
	}
	if m&fs.ModeSetgid != 0 {
		mode |= tarSetgid
	}
	if m&fs.ModeSticky != 0 {
		mode |= tarSticky
	}
	return mode
}
