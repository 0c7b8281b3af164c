package node

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
)

// runningNode is a node run in the test process by runNode.
type runningNode struct {
	client *Client
	info   Info
	stop   func() error // ends Run and returns its error
}

// runNode runs a node in this process until the test ends, and waits until it
// answers on its socket.
func runNode(t *testing.T, dir string) *runningNode {
	t.Helper()
	return runNodeWith(t, Config{DataDir: dir})
}

// runNodeWith is runNode with more of the configuration; the router address,
// logger and stop timeout default to the test's.
func runNodeWith(t *testing.T, cfg Config) *runningNode {
	t.Helper()
	dir := cfg.DataDir
	cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, "127.0.0.1:0")
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, 2*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg)
	}()
	var once bool
	var runErr error
	stop := func() error {
		if !once {
			once = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })

	c := NewClient(dir)
	var info Info
	waitFor(t, 10*time.Second, "the node to answer", func() bool {
		select {
		case err := <-done:
			// stop must not wait for a result already taken.
			once, runErr = true, err
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		var err error
		info, err = c.Info(context.Background())
		return err == nil
	})
	return &runningNode{client: c, info: info, stop: stop}
}

func TestRunServesRoutesAndWorkloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := runNode(t, dir)
	ctx := context.Background()
	c := n.client
	if n.info.PID != os.Getpid() || n.info.StartedAt.IsZero() || n.info.Version == "" {
		t.Errorf("info = %+v", n.info)
	}

	if fi, err := os.Stat(SocketPath(dir)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600: whoever can connect can run commands", fi.Mode().Perm())
	}

	spec := appSpec(t, "shop", 1, "/healthz", map[string]string{"GREETING": "shop v1"})
	if err := c.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st := waitReady(t, c, spec.ID)
	table := router.Table{Routes: []router.Route{{
		App: "shop", Hosts: []string{"shop.localhost"},
		Backends: []router.Backend{{Release: 1, Addrs: st.Endpoints(), Weight: 1}},
	}}}
	if err := c.SetRoutes(ctx, table); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Routes(ctx); err != nil || !reflect.DeepEqual(got, table) {
		t.Errorf("Routes = %+v, %v; want %+v", got, err, table)
	}

	// Traffic for the app's host reaches it through the router.
	req, err := http.NewRequest(http.MethodGet, "http://"+n.info.HTTPAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "shop.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello from shop v1" {
		t.Errorf("router answered %d %q", resp.StatusCode, body)
	}

	// The router accounts for a request when its handler returns, which can be
	// just after the client has read the whole answer.
	var m []router.ReleaseMetrics
	waitFor(t, 5*time.Second, "the request to be counted", func() bool {
		m, err = c.Metrics(ctx)
		return err == nil && len(m) == 1 && m[0].Requests == 1 && m[0].InFlight == 0
	})
	if m[0].App != "shop" || m[0].Release != 1 {
		t.Errorf("metrics = %+v, want one request to shop v1", m)
	}
	if f, err := c.InFlight(ctx, "shop", 1); err != nil || f != 0 {
		t.Errorf("InFlight = %d, %v; want 0", f, err)
	}
	prom := getSocket(t, dir, "/v1/metrics/prometheus")
	if !strings.Contains(prom, "shop") {
		t.Errorf("prometheus exposition does not mention the app:\n%s", prom)
	}

	// Logs through the client, filtered on the node.
	waitFor(t, 10*time.Second, "the app's start line", func() bool {
		return len(collectLogs(t, c, runtime.LogQuery{App: "shop", Release: 1, Grep: "testapp started"})) == 1
	})

	if err := c.Stop(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if processAlive(st.Replicas[0].PID) {
		t.Error("the app still runs after Stop")
	}
	if err := c.Stop(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop of an unknown workload = %v, want ErrNotFound", err)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := runNode(t, dir)
	ctx := context.Background()
	bad := router.Table{Routes: []router.Route{{App: "x", Backends: []router.Backend{{Release: 0}}}}}
	if err := n.client.SetRoutes(ctx, bad); err == nil || !strings.Contains(err.Error(), "release numbers start at 1") {
		t.Errorf("SetRoutes of an invalid table = %v", err)
	}
	if err := n.client.Start(ctx, runtime.Spec{ID: "x", App: "x"}); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("Start of an invalid spec = %v", err)
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/v1/inflight", http.StatusBadRequest},
		{"/v1/inflight?app=a&release=x", http.StatusBadRequest},
		{"/v1/logs?app=a&since=yesterday", http.StatusBadRequest},
		{"/v1/logs?app=a/b", http.StatusBadRequest},
		{"/v1/nothing", http.StatusNotFound},
	}
	for _, tt := range tests {
		resp := doSocket(t, dir, http.MethodGet, tt.path)
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.status)
		}
	}
	// A client following logs gets new lines, and its stream ends with an
	// error when the node stops.
	logCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lines := make(chan runtime.LogLine, 16)
	done := make(chan error, 1)
	go func() {
		done <- n.client.Logs(logCtx, runtime.LogQuery{App: "chatty", Follow: true}, func(l runtime.LogLine) error {
			lines <- l
			return nil
		})
	}()
	if err := n.client.Start(ctx, shSpec(t, "chatty", 1, "echo hello; exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "hello")
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("following logs of a node that stopped: no error")
		}
	case <-logCtx.Done():
		t.Fatal("following logs did not end when the node stopped")
	}
	if _, err := n.client.Info(ctx); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "start it with prosper up") {
		t.Errorf("Info of a stopped node = %v, want ErrNotRunning saying what to do", err)
	}
}

func TestRunAddrInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	err = Run(context.Background(), Config{DataDir: t.TempDir(), HTTPAddr: addr, Logger: testLogger()})
	want := "router address " + addr + " is in use: stop the program using it or pass --http ADDR"
	if !errors.Is(err, ErrAddrInUse) || err.Error() != want {
		t.Errorf("Run = %v, want %q wrapping ErrAddrInUse", err, want)
	}
}

func TestRunRefusesSecondNodeAndReplacesStaleSocket(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A socket file left by a node that died: nobody answers on it.
	l, err := net.Listen("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	n := runNode(t, dir)
	err = Run(context.Background(), Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", Logger: testLogger()})
	if err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Fatalf("second Run = %v, want a refusal", err)
	}
	if _, err := n.client.Info(context.Background()); err != nil {
		t.Errorf("the first node stopped answering: %v", err)
	}
}

func TestRoutesSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := router.Table{Routes: []router.Route{{
		App: "blog", Hosts: []string{"blog.localhost", "blog.example.com"},
		Backends: []router.Backend{{Release: 2, Addrs: []string{"127.0.0.1:9"}, Weight: 1}},
	}}}
	first := runNode(t, dir)
	if err := first.client.SetRoutes(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, socketName)); !os.IsNotExist(err) {
		t.Errorf("socket left after a clean stop: %v", err)
	}
	second := runNode(t, dir)
	got, err := second.client.Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, table) {
		t.Errorf("routes after restart = %+v, want %+v", got, table)
	}
}

func doSocket(t *testing.T, dir, method, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://node"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := NewClient(dir).http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func getSocket(t *testing.T, dir, path string) string {
	t.Helper()
	resp := doSocket(t, dir, http.MethodGet, path)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}
