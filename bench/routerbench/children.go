package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/prosperhq/prosper/internal/router"
)

// benchHost is the Host every request carries; the router's one route serves it.
const benchHost = "bench.localhost"

// backendBody is what the backend answers: a small JSON document of about 200
// bytes, the size of a typical API reply, so the figures measure per-request
// overhead rather than copying.
var backendBody = []byte(`{"id":4711,"name":"bench","status":"ok","tags":["alpha","beta","gamma"],` +
	`"owner":{"id":42,"login":"prosper"},"created_at":"2025-01-01T00:00:00Z",` +
	`"counts":{"views":123456,"stars":789},"note":"router benchmark payload"}` + "\n")

// Child process modes. The bench runs the backend and the router in processes
// of their own (this same binary, re-executed) so that neither shares a Go
// runtime, a scheduler or a garbage collector with the other or with the
// orchestrator, as in production where the node and the app are separate.
const (
	modeBackend = "serve-backend"
	modeRouter  = "serve-router"
)

// serveChild runs a child mode: it listens on 127.0.0.1:0, prints the address on
// stdout for the parent and serves until killed.
func serveChild(mode string, args []string) error {
	var h http.Handler
	switch mode {
	case modeBackend:
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(backendBody)
		})
	case modeRouter:
		if len(args) != 1 {
			return fmt.Errorf("%s: want the backend address as the only argument", mode)
		}
		rt := router.New(nil)
		err := rt.SetTable(router.Table{Routes: []router.Route{{
			App:      "bench",
			Hosts:    []string{benchHost},
			Backends: []router.Backend{{Release: 1, Addrs: []string{args[0]}, Weight: 1}},
		}}})
		if err != nil {
			return fmt.Errorf("set routing table: %w", err)
		}
		h = rt
	default:
		return fmt.Errorf("unknown child mode %q", mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	// The same server settings as the node's router listener (internal/node).
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil).WithAttrs([]slog.Attr{slog.String("child", mode)}), slog.LevelWarn),
	}
	return srv.Serve(ln)
}

// child is a process the bench started and must kill at the end.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string
}

// startChild re-executes this binary in the given mode and waits for the address
// it listens on.
func startChild(ctx context.Context, mode string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, append([]string{mode}, args...)...)
	cmd.Stderr = os.Stderr
	// If the bench dies without cleaning up, the kernel kills the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", mode, err)
	}
	c := &child{name: mode, cmd: cmd}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, out)
	}()
	select {
	case c.addr = <-line:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	if c.addr == "" {
		c.stop()
		return nil, fmt.Errorf("%s: no listen address within 10s", mode)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop kills the child by its pid and reaps it.
func (c *child) stop() {
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(os.Stderr, "kill %s (pid %d): %v\n", c.name, c.pid(), err)
	}
	c.cmd.Wait()
}
