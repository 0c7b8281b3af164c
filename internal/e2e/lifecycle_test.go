package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
)

func TestCtrlCStopsAndUpResumes(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	pushGoApp(t, remote, "v1")
	router := p.Router
	p.stop()
	// Everything stopped: the router no longer answers.
	if _, err := http.Get(router); err == nil {
		t.Fatal("the router still answers after Ctrl-C")
	}
	p.start()
	p.waitBody("shop", "/", "v1", 10*time.Second)
	if rels := p.releases("shop"); len(rels) != 1 || rels[0].Status != "live" {
		t.Fatalf("after restart: %+v", rels)
	}
}

func TestKill9MidDeployKeepsServing(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	r := pushGoApp(t, remote, "v1")
	// v2 builds slowly, so the control plane dies in the middle of it.
	r.goApp("v2")
	r.write("prosper.yaml", "health: /healthz\nbuild: sleep 3 && go build -o app .\nrun: ./app\n"+quickVerify)
	r.commit("v2")
	l := startLoad(p, "shop", "/", 4)
	pushed := make(chan string, 1)
	go func() {
		out, _ := r.push(remote, "main")
		pushed <- out
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rels := p.releases("shop")
		if len(rels) == 2 && rels[0].Status == "building" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v2 never started building: %+v", rels)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill9()
	<-pushed
	// The router keeps serving v1 with no control plane at all.
	time.Sleep(500 * time.Millisecond)
	p.start()
	p.waitBody("shop", "/", "v1", 5*time.Second)
	ok, failures := l.finish()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed around kill -9 (%d ok): %v", len(failures), ok, failures[:min(5, len(failures))])
	}
	if l.releases["v2"] > 0 {
		t.Fatalf("the half-built v2 answered %d requests", l.releases["v2"])
	}
	rels := p.releases("shop")
	if rels[0].Version != 2 || rels[0].Status != "failed" || !strings.Contains(strings.Join(rels[0].Reasons, " "), "interrupted") ||
		rels[1].Status != "live" {
		t.Fatalf("after restart: %+v", rels)
	}
	// The next push works.
	r.write("prosper.yaml", "health: /healthz\n"+quickVerify)
	r.commit("v2 again")
	r.mustPush(p.remote("shop"))
	p.waitBody("shop", "/", "v2", 5*time.Second)
}

func TestFiftyDeploysUnderLoadDropNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("50 deploys take a minute or two")
	}
	// No warm time: every replaced release is drained and stopped while the load
	// runs, which is the harder case.
	p := startPlatform(t, "--warm", "0s")
	p.mustProsper("app", "create", "shop")
	dir := t.TempDir()
	r := &repo{t: t, dir: dir}
	r.goApp("d0")
	p.mustProsper("deploy", dir, "--app", "shop")
	l := startLoad(p, "shop", "/", 4)
	slow := startLoad(p, "shop", "/slow", 1)
	const deploys = 50
	for i := 1; i <= deploys; i++ {
		r.goApp(fmt.Sprintf("d%d", i))
		if out, err := p.prosper("deploy", dir, "--app", "shop"); err != nil {
			t.Fatalf("deploy %d: %v\n%s", i, err, out)
		}
	}
	p.waitBody("shop", "/", fmt.Sprintf("d%d", deploys), 5*time.Second)
	ok, failures := l.finish()
	sok, sfailures := slow.finish()
	if len(failures)+len(sfailures) > 0 {
		t.Fatalf("failed requests during %d deploys: %d (of %d), e.g. %v %v", deploys, len(failures)+len(sfailures), ok+sok,
			failures[:min(5, len(failures))], sfailures[:min(5, len(sfailures))])
	}
	if len(l.releases) < deploys/2 {
		t.Errorf("the load saw only %d releases: %v", len(l.releases), l.releases)
	}
	t.Logf("%d requests, no failure, across %d releases", ok+sok, len(l.releases))
}

func TestNodeKilledIsRestartedWithTheApps(t *testing.T) {
	p := startPlatform(t)
	remote := p.createApp("shop")
	pushGoApp(t, remote, "v1")
	info, err := node.NewClient(p.dataDir).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The control plane notices, starts a new node on the same address and
	// resumes the live release.
	p.waitBody("shop", "/", "v1", 20*time.Second)
	again, err := node.NewClient(p.dataDir).Info(context.Background())
	if err != nil || again.PID == info.PID || again.HTTPAddr != info.HTTPAddr {
		t.Fatalf("node after kill: %+v %v (before: %+v)", again, err, info)
	}
}
