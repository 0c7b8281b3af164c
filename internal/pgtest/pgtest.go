// Package pgtest gives tests a real PostgreSQL server: Debian's binaries,
// initdb in a temporary directory, a free loopback port, run as the postgres
// OS user when the tests run as root. One server is shared by a test binary
// (Shared; stop it in TestMain with StopShared) and each test gets a database
// of its own (NewDatabase).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// RequireEnv makes an unavailable PostgreSQL a test failure instead of
// a skip; CI sets it, so the PostgreSQL half of the suite cannot silently
// vanish there.
const RequireEnv = "PROSPER_REQUIRE_POSTGRES"

// Server is a throwaway PostgreSQL cluster for a package's tests: initdb in
// a temporary directory, listening on a free loopback port and on a unix
// socket in that directory, run as the postgres OS user when the tests run as
// root (postgres refuses to run as root). It is started by the first test that
// needs it and stopped by TestMain.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	// Admin is the postgres database, for CREATE and DROP DATABASE and
	// server settings.
	Admin *sql.DB
	seq   atomic.Int64 // numbers the test databases
}

var (
	pgOnce   sync.Once
	pg       *Server
	pgReason string // why pg is nil
)

// StopShared stops the shared server if a test started it; call it from
// TestMain after m.Run.
func StopShared() {
	if pg != nil {
		if err := pg.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop postgres: %v\n", err)
		}
	}
}

// Shared returns the shared server, starting it on first use. When it
// cannot run here it skips the test with the reason, or fails it if
// PROSPER_REQUIRE_POSTGRES=1.
func Shared(t testing.TB) *Server {
	t.Helper()
	pgOnce.Do(func() {
		var err error
		if pg, err = startPostgres(); err != nil {
			pg, pgReason = nil, err.Error()
		}
	})
	if pg == nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("postgres is required (%s=1) but cannot run: %s", RequireEnv, pgReason)
		}
		t.Skipf("postgres cannot run here (install Debian's postgresql package and run as root or a normal user): %s", pgReason)
	}
	return pg
}

// postgresBin finds the server binaries: on PATH, else in Debian's versioned
// directory (the package does not put them on PATH), newest version first.
func postgresBin() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if dir := filepath.Dir(p); fileExists(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, dir := range dirs {
		if fileExists(filepath.Join(dir, "postgres")) && fileExists(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", errors.New("no postgres and initdb binaries on PATH or in /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func startPostgres() (*Server, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	// As root, run as the postgres user that Debian's package creates.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "prosper-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 5))
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	// Durability is worth nothing for a throwaway cluster: fsync=off makes
	// CREATE DATABASE and commits cheap. It goes in postgresql.conf rather than
	// on the command line so that the benchmark can turn it on with ALTER
	// SYSTEM, which a command-line setting would override.
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = conf.WriteString("\nfsync = off\nfull_page_writes = off\n")
		err = errors.Join(err, conf.Close())
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("configure postgres: %w", err)
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group, so a Ctrl-C to the test binary reaches TestMain
	// first and the server is stopped cleanly.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s.done = make(chan struct{})
	go func() {
		s.cmd.Wait() //nolint:errcheck // the exit is reported through done and the log
		close(s.done)
	}()

	s.Admin, err = sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		s.Stop()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = s.Admin.PingContext(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			s.Stop()
			return nil, fmt.Errorf("postgres exited: %s", lastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("postgres not ready after 30s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// URL returns the URL of database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDatabase creates an empty database (a copy of template1) for one test,
// dropped when the test ends, and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.seq.Add(1))
	ctx := context.Background()
	if _, err := s.Admin.ExecContext(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE ends the connections of a store a failed test left open.
		if _, err := s.Admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

// Stop shuts the server down (fast shutdown: SIGINT) and removes its files.
func (s *Server) Stop() error {
	if s.Admin != nil {
		s.Admin.Close()
	}
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			err = errors.New("postgres did not stop within 15s; killed")
		}
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}
