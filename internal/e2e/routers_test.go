package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
)

// routerProc is one `prosper router` process.
type routerProc struct {
	name   string
	url    string // its router, http://127.0.0.1:PORT
	health string
	cmd    *exec.Cmd
	out    *lockedBuffer
	waited chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRouter runs `prosper router` against the platform's NATS and waits
// until it is ready.
func startRouter(t *testing.T, p *platform, natsAddr, token, name string) *routerProc {
	t.Helper()
	httpAddr, healthAddr := freeAddr(t), freeAddr(t)
	r := &routerProc{name: name, url: "http://" + httpAddr, health: "http://" + healthAddr, out: &lockedBuffer{}, waited: make(chan error, 1)}
	r.cmd = exec.Command(prosperBin, "router", "--nats", "nats://"+natsAddr, "--http", httpAddr, "--health", healthAddr,
		"--name", name, "--drain", "300ms")
	r.cmd.Env = append(p.env(), node.TokenEnv+"="+token)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.waited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.waited:
		case <-time.After(20 * time.Second):
			_ = r.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, r.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(r.health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case err := <-r.waited:
			t.Fatalf("%s exited (%v):\n%s", name, err, r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in time:\n%s", name, r.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get asks the replica for path on the app's host.
func (r *routerProc) get(client *http.Client, app, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, r.url+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = app + ".localhost"
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// replicaLoad sends requests through replicas until stopped, counting what
// failed.
type replicaLoad struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	ok       int
	failures []string
}

func loadThrough(app string, routers ...*routerProc) *replicaLoad {
	l := &replicaLoad{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range routers {
		l.wg.Go(func() {
			for range 100000 { // bounded even if stop never comes
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, err := r.get(client, app, "/")
				l.mu.Lock()
				if err != nil || code != http.StatusOK {
					l.failures = append(l.failures, fmt.Sprintf("%s: %d %q %v", r.name, code, body, err))
				} else {
					l.ok++
				}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *replicaLoad) finish() (int, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok, l.failures
}

// TestRouterReplicas runs `prosper up --nats` with two `prosper router`
// processes: the apps are served through both, a push goes through mirror
// production with the live traffic of the replicas mirrored and is promoted
// without a failed request, and a replica killed with kill -9 leaves the
// other serving and is reported missing.
func TestRouterReplicas(t *testing.T) {
	p := startPlatform(t, "--nats", "127.0.0.1:0")
	ctx := context.Background()
	info, err := node.NewClient(p.dataDir).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NATSAddr == "" {
		t.Fatalf("the node runs no NATS server: %+v", info)
	}
	tok, err := os.ReadFile(filepath.Join(p.dataDir, "nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	a := startRouter(t, p, info.NATSAddr, token, "router-a")
	b := startRouter(t, p, info.NATSAddr, token, "router-b")

	remote := p.createApp("shop")
	repo := pushGoApp(t, remote, "v1")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range []*routerProc{a, b} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body, err := r.get(client, "shop", "/")
			if err == nil && code == http.StatusOK && strings.HasPrefix(body, "v1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never served v1: %d %q %v", r.name, code, body, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// v2 goes through mirror production while users reach the app through the
	// replicas only: the compared requests of GET / are theirs.
	l := loadThrough("shop", a, b)
	repo.goApp("v2")
	repo.commit("v2")
	out := repo.mustPush(remote)
	time.Sleep(300 * time.Millisecond) // traffic after the switch too
	ok, failures := l.finish()
	if !strings.Contains(out, "PROMOTED v2") {
		t.Fatalf("push did not promote v2:\n%s", out)
	}
	if len(failures) > 0 || ok == 0 {
		t.Fatalf("through the replicas during the deploy: %d ok, %d failed: %v", ok, len(failures), failures[:min(len(failures), 5)])
	}
	var rep struct {
		State       string `json:"state"`
		Differences struct {
			Endpoints []struct {
				Endpoint string `json:"endpoint"`
				Total    int    `json:"total"`
			} `json:"endpoints"`
		} `json:"differences"`
	}
	if err := json.Unmarshal([]byte(p.mustProsper("verify", "status", "shop", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	mirrored := 0
	for _, e := range rep.Differences.Endpoints {
		if e.Endpoint == "GET /" {
			mirrored = e.Total
		}
	}
	if rep.State != "promoted" || mirrored == 0 {
		t.Errorf("verification %s with %d compared GET / (mirrored through the replicas); want promoted, some", rep.State, mirrored)
	}
	for _, r := range []*routerProc{a, b} {
		if code, body, err := r.get(client, "shop", "/"); err != nil || code != http.StatusOK || !strings.HasPrefix(body, "v2") {
			t.Errorf("%s after the promotion: %d %q %v; want v2", r.name, code, body, err)
		}
	}

	// kill -9 one replica while users go through the other.
	l = loadThrough("shop", b)
	time.Sleep(200 * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.waited
	deadline := time.Now().Add(15 * time.Second)
	var status string
	for {
		status = p.mustProsper("router", "status") // through the API
		if strings.Contains(status, "router-a") && strings.Contains(status, "missing") && strings.Contains(status, "no goodbye") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prosper router status never reported router-a missing:\n%s", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if local := p.mustProsper("router", "status", "--data-dir", p.dataDir); !strings.Contains(local, "router-a") || !strings.Contains(local, "missing") {
		t.Errorf("prosper router status --data-dir (the node, directly) does not report router-a missing:\n%s", local)
	}
	ok, failures = l.finish()
	if len(failures) > 0 || ok == 0 {
		t.Errorf("through router-b while router-a was killed: %d ok, %d failed: %v", ok, len(failures), failures[:min(len(failures), 5)])
	}
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "router-b") && !strings.Contains(line, "reporting") {
			t.Errorf("router-b is not reporting: %s", line)
		}
	}
}
