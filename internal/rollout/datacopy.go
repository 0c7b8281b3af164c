package rollout

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver, for consistent copies of live databases
)

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// copyData copies the live data directory src into dst, which must not exist,
// so a candidate can run on production's data without touching it. SQLite
// databases are copied with VACUUM INTO, a consistent snapshot taken under
// SQLite's own locking while the live release keeps writing; their -wal, -shm
// and -journal files are not copied since the snapshot includes what they hold.
// Other files are copied byte for byte.
func copyData(ctx context.Context, src, dst string) (files int, bytesCopied int64, err error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, 0, err
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed by the live release while we walk
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case !d.Type().IsRegular():
			return nil // sockets, pipes: nothing to copy
		case sqliteSidecar(path):
			return nil
		}
		n, err := copyDataFile(ctx, path, to)
		if err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
		files++
		bytesCopied += n
		return nil
	})
	return files, bytesCopied, err
}

// sqliteSidecar reports whether path is the WAL, shared-memory or rollback
// journal of a SQLite database beside it.
func sqliteSidecar(path string) bool {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if db, ok := strings.CutSuffix(path, suffix); ok && isSQLite(db) {
			return true
		}
	}
	return false
}

func isSQLite(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, sqliteHeader)
}

func copyDataFile(ctx context.Context, from, to string) (int64, error) {
	if isSQLite(from) {
		return snapshotSQLite(ctx, from, to)
	}
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// snapshotSQLite writes a consistent copy of the database at from to to.
func snapshotSQLite(ctx context.Context, from, to string) (int64, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+from+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, to); err != nil {
		return 0, fmt.Errorf("snapshot SQLite database: %w", err)
	}
	st, err := os.Stat(to)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
