package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
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

// Child process modes. The bench runs the backends and the routers in processes
// of their own (this same binary, re-executed) so that none shares a Go runtime,
// a scheduler or a garbage collector with another or with the orchestrator and
// its load generator, as in production where the node and the app are separate.
const (
	modeBackend      = "serve-backend"
	modeRouter       = "serve-router"
	modeRouterMirror = "serve-router-mirror"
)

// The bench's verification request carries checkHeader; the backend then echoes
// the X-Forwarded-For it got in seenForwardedHeader, which tells a response that
// came through a proxy from one that did not, for the peers that add no header
// of their own. The load runs do not send it.
const (
	checkHeader         = "Bench-Check"
	seenForwardedHeader = "Bench-Seen-Forwarded-For"
)

// serveChild runs a child mode: it listens on 127.0.0.1:0, prints the address on
// stdout for the parent (and, for the mirroring router, the address of its
// statistics after a space) and serves until killed.
func serveChild(mode string, args []string) error {
	var h http.Handler
	var stats http.Handler
	switch mode {
	case modeBackend:
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(checkHeader) != "" {
				w.Header().Set(seenForwardedHeader, r.Header.Get("X-Forwarded-For"))
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(backendBody)
		})
	case modeRouter:
		if len(args) != 1 {
			return fmt.Errorf("%s: want the backend address as the only argument", mode)
		}
		rt, err := newBenchRouter(args[0], nil)
		if err != nil {
			return err
		}
		h = rt
	case modeRouterMirror:
		if len(args) != 2 {
			return fmt.Errorf("%s: want the backend and the candidate addresses as arguments", mode)
		}
		rt, err := newBenchRouter(args[0], &router.MirrorPolicy{Release: 2, Addrs: []string{args[1]}, Percent: 100})
		if err != nil {
			return err
		}
		var c comparer
		rt.SetMirrorSink(c.observe)
		h = rt
		stats = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(c.stats(rt.MirrorMetrics()))
		})
	default:
		return fmt.Errorf("unknown child mode %q", mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	line := ln.Addr().String()
	if stats != nil {
		sln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		line += " " + sln.Addr().String()
		go http.Serve(sln, stats)
	}
	fmt.Println(line)
	// The same server settings as the node's router listener (internal/node).
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil).WithAttrs([]slog.Attr{slog.String("child", mode)}), slog.LevelWarn),
	}
	return srv.Serve(ln)
}

// newBenchRouter returns a router with one route for benchHost to the backend,
// release 1, and the mirror policy if not nil.
func newBenchRouter(backend string, mirror *router.MirrorPolicy) (*router.Router, error) {
	rt := router.New(nil)
	err := rt.SetTable(router.Table{Routes: []router.Route{{
		App:      "bench",
		Hosts:    []string{benchHost},
		Backends: []router.Backend{{Release: 1, Addrs: []string{backend}, Weight: 1}},
		Mirror:   mirror,
	}}})
	if err != nil {
		return nil, fmt.Errorf("set routing table: %w", err)
	}
	return rt, nil
}

// child is a process the bench started and must kill at the end.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string
	// stats is the address of the mirroring router's statistics.
	stats string
}

// startChild re-executes this binary in the given mode and waits for the address
// it listens on. procs, if not 0, is the child's GOMAXPROCS.
func startChild(ctx context.Context, mode string, procs int, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, append([]string{mode}, args...)...)
	cmd.Stderr = os.Stderr
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
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
	case l := <-line:
		c.addr, c.stats, _ = strings.Cut(l, " ")
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
