package rollout

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestCopyDataSQLiteUnderWrites copies a database that another connection keeps
// writing in WAL mode: the copy opens, passes an integrity check and holds a
// prefix of the writes; the plain files come along byte for byte.
func TestCopyDataSQLiteUnderWrites(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(filepath.Join(src, "uploads"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "uploads", "a.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	live, err := sql.Open("sqlite", "file:"+filepath.Join(src, "app.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := live.Exec(`INSERT INTO notes (text) VALUES ('note')`); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
		done <- nil
	}()
	for written.Load() < 50 {
		if len(done) > 0 {
			break
		}
	}
	files, _, err := copyData(context.Background(), src, dst)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 {
		t.Errorf("copied %d files, want the database and a.txt", files)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "uploads", "a.txt")); err != nil || string(b) != "hello" {
		t.Errorf("a.txt = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "app.db-wal")); err == nil {
		t.Error("the live WAL file was copied beside the snapshot")
	}
	cp, err := sql.Open("sqlite", "file:"+filepath.Join(dst, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var check string
	var n int64
	if err := cp.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	if err := cp.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 50 || n > written.Load() {
		t.Errorf("copy holds %d notes; want between 50 and the %d written", n, written.Load())
	}
	// Writing to the copy leaves the live database alone.
	if _, err := cp.Exec(`DELETE FROM notes`); err != nil {
		t.Fatal(err)
	}
	var liveN int64
	if err := live.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&liveN); err != nil || liveN < n {
		t.Errorf("live holds %d notes after the copy was emptied (%v)", liveN, err)
	}
}
