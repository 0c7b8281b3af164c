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

// TestMain lets the test binary play the backends and the routers, as the bench
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

// TestTargets starts every target as the bench does, checks that each one
// answers the backend's body by its own path, that the mirroring router compares
// exchanges, measures each target briefly with wrk and the paced load, and checks
// that stopping leaves no process behind.
func TestTargets(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	o := options{workers: 1, peers: []string{"nginx", "haproxy", "caddy", "traefik"}}
	env, err := startTargets(ctx, o)
	if env != nil {
		t.Cleanup(env.stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range env.skipped {
		t.Log("skipped:", s)
	}
	var pids []int
	for _, c := range []*child{env.backend, env.candidate, env.router, env.mirror} {
		pids = append(pids, c.pid())
	}
	for _, p := range env.peers {
		pids = append(pids, p.pids()...)
		if p.spec.name == "nginx" {
			if w := childPIDs(p.pid()); len(w) != 1 {
				t.Errorf("nginx workers = %v, want 1 with worker_processes 1", w)
			}
		}
	}

	var dir, mt *target
	for _, tg := range env.targets {
		switch tg.name {
		case nameDirect:
			dir = tg
		case nameMirror:
			mt = tg
		}
		if err := verify(ctx, tg); err != nil {
			t.Fatal(err)
		}
		s, err := measure(ctx, tg, env.backend.pid(), load{threads: 1, connections: 2, duration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if s.requests == 0 || s.reqPerSec <= 0 || s.p50 <= 0 || s.p99 < s.p50 {
			t.Errorf("%s: implausible wrk result %+v", tg.name, s.wrkResult)
		}
		// A check must refuse a response that did not come through its proxy.
		if tg != dir {
			if err := verify(ctx, &target{name: tg.name, url: dir.url, check: tg.check}); err == nil {
				t.Errorf("%s check accepted a response straight from the backend", tg.name)
			}
		}
	}
	if err := verifyMirror(ctx, env.mirror); err != nil {
		t.Fatal(err)
	}

	// The mirroring router under a paced load: every request answered, and
	// the copies of nearly all compared and found equal.
	before, err := env.mirrorReading(ctx, mt)
	if err != nil {
		t.Fatal(err)
	}
	r, err := runPaced(ctx, mt.url, pacedLoad{rate: 200, connections: 2, duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.errors > 0 || r.requests < 180 {
		t.Errorf("paced through %s: %+v, want about 200 answers and no error", mt.name, r)
	}
	var acct mirrorAccount
	// The last copies may still be in flight: poll until they are compared.
	deadline := time.Now().Add(10 * time.Second)
	for {
		acct = mirrorAccount{}
		if err := env.account(ctx, mt, before, &acct, r.requests); err != nil {
			t.Fatal(err)
		}
		if acct.compared >= r.requests || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if acct.compared < r.requests || acct.differing != 0 || acct.dropped != 0 {
		t.Errorf("mirror account %+v: want all %d requests compared, none differing or dropped", acct, r.requests)
	}

	env.stop()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still alive after stop", pid)
		}
	}
}

// TestPeerNotReady checks that a peer that exits at start is reported with its
// output and leaves nothing running.
func TestPeerNotReady(t *testing.T) {
	s := haproxySpec()
	if _, err := s.find(); err != nil {
		t.Skip(err)
	}
	s.config = func(peerParams) (map[string]string, error) {
		return map[string]string{"haproxy.cfg": "this is not a haproxy config\n"}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := startPeer(ctx, s, t.TempDir(), "127.0.0.1:1", 1)
	if err == nil {
		p.stop()
		t.Fatal("startPeer succeeded with a broken config")
	}
	if !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("err = %v, want one saying haproxy exited at start", err)
	}
}

// TestChecks checks the path checks on responses built by hand.
func TestChecks(t *testing.T) {
	h := func(kv ...string) *http.Response {
		res := &http.Response{Header: http.Header{}}
		for i := 0; i < len(kv); i += 2 {
			res.Header.Set(kv[i], kv[i+1])
		}
		return res
	}
	tests := []struct {
		name  string
		check func(*http.Response) error
		res   *http.Response
		ok    bool
	}{
		{"router", viaRouter, h("Prosper-Release", "1"), true},
		{"router without header", viaRouter, h(), false},
		{"nginx", serverHeader("nginx", "nginx"), h("Server", "nginx/1.22.1"), true},
		{"caddy as nginx", serverHeader("nginx", "nginx"), h("Server", "Caddy"), false},
		{"forwarded", forwarded, h(seenForwardedHeader, "127.0.0.1"), true},
		{"not forwarded", forwarded, h(), false},
	}
	for _, tt := range tests {
		if err := tt.check(tt.res); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok = %v", tt.name, err, tt.ok)
		}
	}
}
