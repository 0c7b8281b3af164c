package kubebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/kubetest"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/runtime"
)

// unpackRelease unpacks files, or examples/NAME when files is nil, as a deploy
// does, into DATA_DIR/releases/APP/vN.
func unpackRelease(t *testing.T, data, app string, n int, example string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(data, "releases", app, "v"+strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if example != "" {
		var buf bytes.Buffer
		if err := build.PackDir(filepath.Join("..", "..", "examples", example), &buf); err != nil {
			t.Fatal(err)
		}
		if err := build.Unpack(&buf, dir); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildRelease builds dir as the control plane does on Kubernetes.
func buildRelease(t *testing.T, b *build.Builder, app, dir string) (build.Result, string, error) {
	t.Helper()
	cfg, err := appconfig.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := b.Build(ctx, build.Request{App: app, Dir: dir, Config: cfg, Log: &log})
	return res, log.String(), err
}

// On a real node: node-hello is built by a Job on the Node base, pinned by
// digest, with its output in the build log; its release then runs on that
// base and answers, and so does python-hello, which has nothing to build, on
// the Python base. A failing step fails the build with its exit code and last
// lines; a custom build without image: is refused before any Job; no Job is
// left behind.
func TestBuildAndRunOnLanguageBases(t *testing.T) {
	n := kubetest.StartNode(t)
	reg := kubetest.Registry(t)
	nodeBase, pythonBase := kubetest.NodeBase(t, reg), kubetest.PythonBase(t, reg)
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	kube := node.KubeConfig{Kubeconfig: n.Kubeconfig, Registry: reg, Resync: 2 * time.Second,
		ImageBases: map[string]string{build.KindNode: nodeBase, build.KindPython: pythonBase}}
	b := &build.Builder{Remote: &Runner{Kube: kube, DataDir: data, Timeout: 2 * time.Minute, Logger: logger}}

	// node-hello, built in the cluster.
	hello := unpackRelease(t, data, "hello", 1, "node-hello", nil)
	started := time.Now()
	res, log, err := buildRelease(t, b, "hello", hello)
	if err != nil {
		t.Fatalf("build node-hello: %v\n%s", err, log)
	}
	t.Logf("node-hello built in the cluster in %s", time.Since(started).Round(time.Millisecond))
	for _, want := range []string{"building in the cluster on " + reg + "/prosper-test/node@sha256:", "(Job prosper-hello/build-v1-", "$ npm ci", "$ npm run build", "built dist/hello.json"} {
		if !strings.Contains(log, want) {
			t.Errorf("the build log lacks %q:\n%s", want, log)
		}
	}
	rec, ok, err := image.ReadBase(hello)
	wantRef := strings.TrimSuffix(nodeBase, ":22-bookworm-slim") + "@" + digestOf(t, nodeBase)
	if err != nil || !ok || rec.Kind != build.KindNode || rec.Ref != wantRef {
		t.Errorf("recorded base %+v, %v, %v; want node pinned to %s", rec, ok, err, wantRef)
	}
	var built struct {
		BuiltBy int `json:"builtBy"`
	}
	if b, err := os.ReadFile(filepath.Join(hello, "dist", "hello.json")); err != nil || json.Unmarshal(b, &built) != nil || built.BuiltBy != image.UID {
		t.Errorf("dist/hello.json: %s %v; want it written by uid %d", b, err, image.UID)
	}

	// A step that fails.
	broken := unpackRelease(t, data, "broken", 1, "", map[string]string{
		"prosper.yaml": "image: " + nodeBase + "\nbuild: |\n  echo compiling\n  echo 'error: syntax error on line 3' >&2\n  exit 4\nrun: node x.js\n",
	})
	_, log, err = buildRelease(t, b, "broken", broken)
	var be *build.Error
	if !errors.As(err, &be) || be.ExitCode != 4 || !strings.HasPrefix(be.Command, "echo compiling") ||
		len(be.Tail) == 0 || be.Tail[len(be.Tail)-1] != "error: syntax error on line 3" {
		t.Errorf("failing build: %#v (%v); want a build error with exit code 4 and the last line\n%s", be, err, log)
	} else if msg := be.Error(); !strings.Contains(msg, "exited with code 4") || !strings.Contains(msg, "syntax error on line 3") {
		t.Errorf("the error says %q", msg)
	}

	// A custom build without image: is refused before anything runs.
	custom := unpackRelease(t, data, "custom", 1, "", map[string]string{"prosper.yaml": "build: make\nrun: bin/app\n"})
	if _, _, err := buildRelease(t, b, "custom", custom); !errors.Is(err, ErrNoImage) {
		t.Errorf("custom build without image: %v; want ErrNoImage", err)
	}

	// python-hello: nothing to build, but its Procfile needs Python.
	py := unpackRelease(t, data, "pyhello", 1, "python-hello", nil)
	pyRes, log, err := buildRelease(t, b, "pyhello", py)
	if err != nil {
		t.Fatalf("build python-hello: %v\n%s", err, log)
	}
	if rec, _, _ := image.ReadBase(py); rec.Kind != build.KindPython || !strings.Contains(rec.Ref, "/prosper-test/python@sha256:") {
		t.Errorf("python-hello's recorded base: %+v; want the Python base by digest", rec)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, ns := range []string{"prosper-hello", "prosper-broken"} {
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(jobs.Items) != 0 {
			t.Errorf("jobs left in %s: %v %v", ns, jobs, err)
		}
	}

	// Both releases run on their bases.
	sup, err := node.NewSupervisor(node.SupervisorConfig{DataDir: data, Logger: logger, Kube: &kube})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close(context.Background())
	for _, app := range []struct {
		id, app, dir string
		res          build.Result
	}{
		{"hello-v1", "hello", hello, res},
		{"pyhello-v1", "pyhello", py, pyRes},
	} {
		spec := runtime.Spec{ID: app.id, App: app.app, Release: 1, Artifact: app.dir, Command: app.res.Command,
			Env: app.res.Env, Replicas: 1, HealthPath: "/healthz"}
		if err := sup.Start(ctx, spec); err != nil {
			t.Fatalf("start %s: %v", app.id, err)
		}
	}
	for _, app := range []struct{ id, ns, want string }{
		{"hello-v1", "prosper-hello", `"message":"hello from node"`},
		{"pyhello-v1", "prosper-pyhello", `"message": "hello from python"`},
	} {
		addr := waitReady(ctx, t, sup, app.id)
		if body := get(ctx, t, "http://"+addr+"/"); !strings.Contains(body, app.want) {
			t.Errorf("%s answers %q; want %s", app.id, body, app.want)
		}
		d, err := cs.AppsV1().Deployments(app.ns).Get(ctx, app.id, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := d.Spec.Template.Spec.Containers[0]; c.Command[0] != "/bin/sh" || !strings.HasPrefix(c.Image, reg+"/prosper/") {
			t.Errorf("%s runs %q from %s; want /bin/sh -c and the release's image in the registry", app.id, c.Command, c.Image)
		}
	}
}

// digestOf is the digest ref's tag names in the registry.
func digestOf(t *testing.T, ref string) string {
	t.Helper()
	pinned, err := resolve(context.Background(), ref, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	_, d, _ := strings.Cut(pinned, "@")
	return d
}

// waitReady waits for a workload's replica to be healthy and returns its
// address.
func waitReady(ctx context.Context, t *testing.T, sup *node.Supervisor, id string) string {
	t.Helper()
	var last []runtime.Status
	for {
		all, err := sup.List(ctx)
		if err == nil {
			last = all
			for _, st := range all {
				if st.ID == id && st.Ready() && len(st.Endpoints()) > 0 {
					return st.Endpoints()[0]
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s is not ready: %+v", id, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
