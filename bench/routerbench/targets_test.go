package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the backend and the router, as the bench
// binary does, since startChild re-executes the running binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "serve-") {
		if err := serveChild(os.Args[1], os.Args[2:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestTargets starts the three targets as the bench does, checks that each one
// answers the backend's body by its own path, measures each briefly with wrk and
// checks that stopping leaves no process behind.
func TestTargets(t *testing.T) {
	if _, err := findNginx(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	backend, err := startChild(ctx, modeBackend)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.stop)
	rtr, err := startChild(ctx, modeRouter, backend.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rtr.stop)
	ngx, err := startNginx(ctx, t.TempDir(), backend.addr, "1")
	if err != nil {
		t.Fatal(err)
	}
	workers := ngx.workers()
	if len(workers) != 1 {
		t.Fatalf("nginx workers = %v, want 1 with worker_processes 1", workers)
	}

	direct := &target{name: "direct", url: "http://" + backend.addr + "/", check: func(*http.Response) error { return nil }}
	for _, tg := range []*target{
		direct,
		{name: "router", url: "http://" + rtr.addr + "/", check: viaRouter},
		{name: "nginx", url: "http://" + ngx.addr + "/", check: viaNginx},
	} {
		if err := verify(ctx, tg); err != nil {
			t.Fatal(err)
		}
		s, err := measure(ctx, tg, backend.pid(), load{threads: 1, connections: 2, duration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if s.requests == 0 || s.reqPerSec <= 0 || s.p50 <= 0 || s.p99 < s.p50 {
			t.Errorf("%s: implausible result %+v", tg.name, s.wrkResult)
		}
	}
	// A check must refuse a response that did not come through its proxy.
	if err := verify(ctx, &target{name: "router", url: direct.url, check: viaRouter}); err == nil {
		t.Error("router check accepted a response straight from the backend")
	}
	if err := verify(ctx, &target{name: "nginx", url: direct.url, check: viaNginx}); err == nil {
		t.Error("nginx check accepted a response straight from the backend")
	}

	ngx.stop()
	for _, pid := range append([]int{ngx.cmd.Process.Pid}, workers...) {
		if alive(pid) {
			t.Errorf("nginx process %d still alive after stop", pid)
		}
	}
}
