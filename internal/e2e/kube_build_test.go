package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// exampleRepo is a repository holding examples/NAME, with extra appended to
// its prosper.yaml.
func exampleRepo(t *testing.T, name, extra string) *repo {
	t.Helper()
	r := newRepo(t)
	src := filepath.Join("..", "..", "examples", name)
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "prosper.yaml" {
			b = append(b, extra...)
		}
		r.write(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// prosper up --kubernetes builds apps that are not Go in the cluster: the
// node-hello example is pushed, built by a Job on the Node base (its output
// reaches git push), run on that base, promoted after mirror production and
// served through the router; python-hello runs on the Python base; an app
// whose build: needs a base prosper cannot choose is refused, saying what to
// set. The bases are this machine's stand-ins, named by --image-base.
func TestKubernetesBuildsInTheCluster(t *testing.T) {
	n := kubetest.StartNode(t)
	reg := kubetest.Registry(t)
	nodeBase, pythonBase := kubetest.NodeBase(t, reg), kubetest.PythonBase(t, reg)
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := startPlatform(t, "--kubernetes", n.Kubeconfig, "--registry", reg,
		"--image-base", "node="+nodeBase, "--image-base", "python="+pythonBase)

	p.createApp("hello")
	r := exampleRepo(t, "node-hello", kubeVerify)
	r.commit("v1")
	started := time.Now()
	out := r.mustPush(p.remote("hello"))
	t.Logf("node-hello v1 pushed to live in %s", time.Since(started).Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("git push said:\n%s", out)
	}
	for _, want := range []string{"building in the cluster on " + reg + "/prosper-test/node@sha256:", "$ npm run build",
		"built dist/hello.json", "v1 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of v1 does not say %q:\n%s", want, out)
		}
	}
	p.waitBody("hello", "/", `"message":"hello from node"`, 30*time.Second)

	// A harmless change is verified in mirror production and promoted.
	l := startLoad(p, "hello", "/", 2)
	r.write("server.js", strings.Replace(readFile(t, filepath.Join(r.dir, "server.js")), `"use strict";`, "\"use strict\";\n// Refactored.", 1))
	r.commit("v2")
	out = r.mustPush(p.remote("hello"))
	for _, want := range []string{"built dist/hello.json", "mirror production", "PROMOTED v2", "v2 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of v2 does not say %q:\n%s", want, out)
		}
	}
	if ok, failures := l.finish(); len(failures) > 0 || ok < 20 {
		t.Errorf("%d of %d requests failed while v2 was verified: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	if _, body, rel, err := p.get("hello", "/"); err != nil || rel != "v2" || !strings.Contains(body, "hello from node") {
		t.Errorf("after the promotion: %s from %q, %v; want v2's greeting", body, rel, err)
	}
	jobs, err := cs.BatchV1().Jobs("prosper-hello").List(ctx, metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 0 {
		t.Errorf("build Jobs left behind: %v %v", jobs, err)
	}

	// python-hello has nothing to build; its Procfile runs on the Python base.
	p.createApp("pyhello")
	out = exampleRepo(t, "python-hello", "").pushCommitted(t, p.remote("pyhello"))
	if !strings.Contains(out, "runs on "+reg+"/prosper-test/python@sha256:") || !strings.Contains(out, "v1 is live") {
		t.Fatalf("push of python-hello:\n%s", out)
	}
	p.waitBody("pyhello", "/", `"message": "hello from python"`, 30*time.Second)

	// A build: the cluster cannot run without a base is refused before it starts.
	p.createApp("custom")
	cr := newRepo(t)
	cr.write("prosper.yaml", "build: make\nrun: bin/app\n")
	cr.commit("v1")
	out, err = cr.push(p.remote("custom"), "main")
	if err == nil || !strings.Contains(out, "set image: in prosper.yaml") {
		t.Errorf("push of a custom build without image: %v; want a refusal saying to set image:\n%s", err, out)
	}
}

// pushCommitted commits the tree and pushes it.
func (r *repo) pushCommitted(t *testing.T, remote string) string {
	t.Helper()
	r.commit("v1")
	return r.mustPush(remote)
}
