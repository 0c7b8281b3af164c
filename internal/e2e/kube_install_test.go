package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// prosper installed into a real node by `prosper install --build-image`: the
// control plane runs as a pod of prosper's own image (made here, without
// Docker, on a stand-in for the Go base image), takes a git push of the
// example, builds it in its pod, verifies it in mirror production and serves
// it through the router Service. Then the router as replicas of its own:
// a replica deleted and the control plane deleted do not stop live traffic.
func TestInstallInCluster(t *testing.T) {
	started := time.Now()
	n := kubetest.StartNode(t)
	reg := n.Registry(t)
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	base := kubetest.GoBase(t, reg.Pull)
	nodeBase := kubetest.NodeBase(t, reg.Addr) // pulled by the control plane at the registry's address, by the node renamed
	t.Logf("node, registry and base image ready after %s", time.Since(started).Round(time.Second))
	bin := linuxProsper(t)
	t.Logf("static prosper built after %s", time.Since(started).Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The data directory is the node's, at the same path in the pod. The
	// pods cannot reach the internet: the module cache is filled from this
	// machine's, as a warm cache would be, and the pod's go may not download.
	dataDir := t.TempDir()
	warmModules(t, filepath.Join(dataDir, "cache", "gomod"))
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, cs, "prosper")
		}
	})

	install := func(extra ...string) string {
		t.Helper()
		args := append([]string{"install", "--kubeconfig", n.Kubeconfig, "--timeout", "4m",
			"--set", "registry=" + reg.Addr, "--set", "pullRegistry=" + reg.Pull, "--set", "registryInsecure=true",
			"--set", "persistence.hostPath=" + dataDir, "--set", "ingress.enabled=false",
			"--set", "extraEnv[0].name=GOPROXY", "--set", "extraEnv[0].value=off"}, extra...)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = baseEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("prosper %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	step := time.Now()
	out := install("--build-image", "--base", base, "--binary", bin, "--set", "router.replicas=0", "--set", "imageBases.node="+nodeBase)
	if !strings.Contains(out, "pushed "+reg.Addr+"/prosper@sha256:") || !strings.Contains(out, "prosper is up") {
		t.Fatalf("install does not tell of the image and the control plane:\n%s", out)
	}
	d, err := cs.AppsV1().Deployments("prosper").Get(ctx, "prosper", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := d.Spec.Template.Spec.Containers[0].Image
	if !strings.HasPrefix(image, reg.Pull+"/prosper@sha256:") {
		t.Errorf("the control plane runs %s; want the image pushed, by digest, by the name the node pulls by", image)
	}
	t.Logf("installed and available in %s", time.Since(step).Round(time.Second))

	p := &platform{t: t, home: t.TempDir(), dataDir: dataDir,
		API: "http://" + serviceAddr(ctx, t, cs, "prosper", 7070), Router: "http://" + serviceAddr(ctx, t, cs, "prosper-router", 80)}
	p.Token = waitToken(t, dataDir)
	waitAPI(t, p.API)
	p.createApp("notes")

	step = time.Now()
	r := notesRepo(t)
	r.commit("v1")
	out = r.mustPush(p.remote("notes"))
	if !strings.Contains(out, "v1 is live") {
		t.Fatalf("first push:\n%s", out)
	}
	p.waitBody("notes", "/healthz", "ok", 60*time.Second)
	t.Logf("v1 built in the control plane's pod and live in %s", time.Since(step).Round(time.Second))

	step = time.Now()
	l := startLoad(p, "notes", "/api/notes", 2)
	r.write("main.go", strings.Replace(readFile(t, filepath.Join(r.dir, "main.go")), "package main", "// Refactored.\npackage main", 1))
	r.commit("v2")
	out = r.mustPush(p.remote("notes"))
	for _, want := range []string{"mirror production", "PROMOTED v2", "v2 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of v2 does not say %q:\n%s", want, out)
		}
	}
	if ok, failures := l.finish(); len(failures) > 0 || ok < 20 {
		t.Errorf("%d of %d live requests failed through the router Service during v2's verification: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	if _, _, rel, _ := p.get("notes", "/api/notes"); rel != "v2" {
		t.Errorf("after the promotion the router answers from %q; want v2", rel)
	}
	t.Logf("v2 through mirror production, promoted, in %s", time.Since(step).Round(time.Second))

	// An app that is not Go: the control plane in the cluster builds it with a
	// Job (the chart's service account may) on the Node.js base, and runs it.
	step = time.Now()
	p.createApp("hello")
	out = exampleRepo(t, "node-hello", kubeVerify).pushCommitted(t, p.remote("hello"))
	for _, want := range []string{"building in the cluster on", "$ npm run build", "built dist/hello.json", "v1 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of node-hello does not say %q:\n%s", want, out)
		}
	}
	p.waitBody("hello", "/", `"message":"hello from node"`, 30*time.Second)
	t.Logf("node-hello built by a Job and live in %s", time.Since(step).Round(time.Second))

	// Router replicas need `prosper router`, which the same binary has or
	// not yet.
	// (Cobra answers an unknown command's --help with the root's help.)
	for _, c := range []string{"router", "up"} {
		if help, err := exec.Command(bin, c, "--help").CombinedOutput(); err != nil || !strings.Contains(string(help), "--nats") {
			t.Skipf("router replicas not tested: this prosper has no `prosper %s --nats` (the router replicas' command and flag, registered in root.go): %v", c, err)
		}
	}
	step = time.Now()
	install("--set", "router.replicas=2", "--set", "image.repository="+reg.Pull+"/prosper", "--set", "image.digest="+strings.SplitN(image, "@", 2)[1])
	waitDeployment(ctx, t, cs, "prosper", "prosper-router", 2)
	p.waitBody("notes", "/healthz", "ok", 60*time.Second)
	t.Logf("2 router replicas serving in %s", time.Since(step).Round(time.Second))
	// Both report to the control plane over NATS, which the API tells.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status := p.mustProsper("router", "status")
		if strings.Count(status, " reporting ") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 2 router replicas do not both report to the control plane:\n%s", status)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A replica deleted the graceful way: it turns unready and drains, the
	// other serves, the Deployment replaces it.
	l = startLoad(p, "notes", "/api/notes", 2)
	routers, err := cs.CoreV1().Pods("prosper").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=router"})
	if err != nil || len(routers.Items) != 2 {
		t.Fatalf("router pods: %v %v", routers, err)
	}
	victim := routers.Items[0].Name
	if err := cs.CoreV1().Pods("prosper").Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(ctx, t, cs, "prosper", victim)
	waitDeployment(ctx, t, cs, "prosper", "prosper-router", 2)
	if ok, failures := l.finish(); len(failures) > 0 || ok < 20 {
		t.Errorf("%d of %d requests failed while a router replica was deleted: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}

	// The control plane deleted: the replicas keep serving from their last
	// table while it is replaced; then a push works.
	l = startLoad(p, "notes", "/api/notes", 2)
	cps, err := cs.CoreV1().Pods("prosper").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=control-plane"})
	if err != nil || len(cps.Items) != 1 {
		t.Fatalf("control plane pods: %v %v", cps, err)
	}
	if err := cs.CoreV1().Pods("prosper").Delete(ctx, cps.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodGone(ctx, t, cs, "prosper", cps.Items[0].Name)
	waitDeployment(ctx, t, cs, "prosper", "prosper", 1)
	if ok, failures := l.finish(); len(failures) > 0 || ok < 20 {
		t.Errorf("%d of %d requests failed while the control plane was replaced: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}
	waitAPI(t, p.API)
	r.write("handlers.go", readFile(t, filepath.Join(r.dir, "handlers.go"))+"\n// v3\n")
	r.commit("v3")
	if out, err := r.push(p.remote("notes"), "main"); err != nil || !strings.Contains(out, "v3 is live") {
		t.Errorf("push after the control plane was replaced: %v\n%s", err, out)
	}
	t.Logf("whole test: %s", time.Since(started).Round(time.Second))
}

// linuxProsper builds prosper as a static Linux binary of this machine's
// architecture: the image's, and the CLI the test runs.
func linuxProsper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prosper")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/prosper")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build prosper: %v\n%s", err, out)
	}
	return bin
}

// warmModules fills the module cache at dir with go-notes' modules, from
// this machine's module cache, so that the pod's build needs no network.
func warmModules(t *testing.T, dir string) {
	t.Helper()
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "download")
	cmd.Dir = filepath.Join("..", "..", "examples", "go-notes")
	cmd.Env = append(os.Environ(), "GOMODCACHE="+dir, "GOFLAGS=-modcacherw",
		"GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(cache)), "cache", "download"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fill the module cache: %v\n%s", err, out)
	}
}

// serviceAddr is a Service's ClusterIP:port, which the host reaches through
// kube-proxy's rules.
func serviceAddr(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string, port int) string {
	t.Helper()
	svc, err := cs.CoreV1().Services("prosper").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", svc.Spec.ClusterIP, port)
}

// waitToken reads the admin token the control plane wrote in its data
// directory, which is the node's.
func waitToken(t *testing.T, dataDir string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admin token in %s: %v", dataDir, err)
		}
	}
}

// waitDeployment waits until the Deployment has rolled out want ready
// replicas, and no more pods.
func waitDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, want int32) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			s := d.Status
			last = fmt.Sprintf("generation %d/%d, %d replicas, %d updated, %d ready", s.ObservedGeneration, d.Generation, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas)
			if s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want && s.ReadyReplicas == want {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/%s: %s", ns, name, last)
		}
	}
}

func waitPodGone(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s still there 2 minutes after its deletion", ns, name)
		}
	}
}

// dumpPods logs the namespace's pods, their state and their last lines.
func dumpPods(t *testing.T, cs kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("pods of %s: %v", ns, err)
		return
	}
	tail := int64(60)
	for _, pod := range pods.Items {
		t.Logf("pod %s: %s %+v", pod.Name, pod.Status.Phase, pod.Status.ContainerStatuses)
		rc, err := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{TailLines: &tail}).Stream(ctx)
		if err != nil {
			t.Logf("logs of %s: %v", pod.Name, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Logf("logs of %s:\n%s", pod.Name, b)
	}
}

// waitAPI waits for the API behind its Service to answer: the pod being
// available is not enough, kube-proxy sends the Service to it a moment later,
// as it would for any user.
func waitAPI(t *testing.T, api string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(api + "/api/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API Service does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
