package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/store"
)

// kubeVerify is the example's verify section in these tests: a short window,
// so that the test is about the cluster, not the clock, and latency gates
// wide enough for a candidate pod that has just started on a machine busy
// with the rest of the suite (a cold pod's p95 was 9× live's in one CI run;
// the verdicts tested here are the bots' and the answers').
const kubeVerify = "verify: {window: 3s, min_requests: 5, grace: 5s, gates: {p50: +1s, p95: +1s, p99: +1s}}\n"

// notesRepo is a repository holding the go-notes example, verified as
// kubeVerify says.
func notesRepo(t *testing.T) *repo { return exampleRepo(t, "go-notes", kubeVerify) }

// prosper up --kubernetes on a real node: the example app is pushed, built
// into an image, run as a Deployment, verified in mirror production on the
// cluster (its candidate a Deployment of its own), promoted and served through
// the router; a release that breaks the bot journey is rejected; rollback is
// instant; pods deleted and a killed control plane do not stop the traffic for
// long, and the state converges.
func TestKubernetesRuntime(t *testing.T) {
	n := kubetest.StartNode(t)
	reg := kubetest.Registry(t)
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	p := startPlatform(t, "--kubernetes", n.Kubeconfig, "--registry", reg)
	p.createApp("notes")

	r := notesRepo(t)
	r.commit("v1")
	out := r.mustPush(p.remote("notes"))
	if !strings.Contains(out, "v1 is live") {
		t.Fatalf("first push:\n%s", out)
	}
	p.waitBody("notes", "/healthz", "ok", 30*time.Second)
	d, err := cs.AppsV1().Deployments("prosper-notes").Get(ctx, "notes-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the live release's Deployment: %v", err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, reg+"/prosper/notes@sha256:") {
		t.Errorf("v1 runs image %s; want the registry's image by digest", img)
	}

	// A harmless change goes through mirror production on the cluster.
	l := startLoad(p, "notes", "/api/notes", 2)
	r.write("main.go", strings.Replace(readFile(t, filepath.Join(r.dir, "main.go")), "package main", "// Refactored.\npackage main", 1))
	r.commit("v2")
	wctx, stopWatch := context.WithCancel(ctx)
	candidate := watchDeployment(wctx, cs, "prosper-notes", "notes-v2-candidate")
	out = r.mustPush(p.remote("notes"))
	for _, want := range []string{"mirror production", "PROMOTED v2", "v2 is live"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push of v2 does not say %q:\n%s", want, out)
		}
	}
	stopWatch()
	if !<-candidate {
		t.Error("the candidate never ran as a Deployment notes-v2-candidate")
	}
	if _, _, rel, _ := p.get("notes", "/api/notes"); rel != "v2" {
		t.Errorf("after the promotion the router answers from %q; want v2", rel)
	}

	// A release that breaks the journey (a note written cannot be read back)
	// is rejected; v2 stays live.
	r.write("handlers.go", strings.Replace(readFile(t, filepath.Join(r.dir, "handlers.go")),
		"n, err := notes.Get(r.Context(), id)", "n, err := notes.Get(r.Context(), id+1000)", 1))
	r.commit("v3 reads the wrong note")
	out, err = r.push(p.remote("notes"), "main")
	if err == nil || !strings.Contains(out, "REJECTED v3") || !strings.Contains(out, "write and read a note") {
		t.Fatalf("push of v3: %v; want REJECTED v3 naming the journey\n%s", err, out)
	}
	if _, _, rel, _ := p.get("notes", "/api/notes"); rel != "v2" {
		t.Errorf("after the rejection the router answers from %q; want v2", rel)
	}
	if ok, failures := l.finish(); len(failures) > 0 || ok < 50 {
		t.Errorf("%d of %d live requests failed during two verifications on the cluster: %v", len(failures), ok+len(failures), failures[:min(5, len(failures))])
	}

	// Rollback is instant: v1 still runs.
	out = p.mustProsper("rollback", "notes")
	if _, _, rel, _ := p.get("notes", "/api/notes"); rel != "v1" {
		t.Fatalf("after rollback the router answers from %q; want v1\n%s", rel, out)
	}

	// The live release's pods deleted: Kubernetes replaces them, the router
	// follows their new addresses.
	pods, err := cs.CoreV1().Pods("prosper-notes").List(ctx, metav1.ListOptions{LabelSelector: "prosper.dev/workload=notes-v1"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of v1: %v %v", pods, err)
	}
	zero := int64(0)
	for _, pod := range pods.Items {
		if err := cs.CoreV1().Pods("prosper-notes").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
	}
	// A force-deleted pod's container may answer for a moment after its
	// object is gone: wait for a new pod Ready, then for the router to serve
	// steadily (from the new pod: the table holds Ready pods only).
	old := map[string]bool{}
	for _, pod := range pods.Items {
		old[pod.Name] = true
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		now, err := cs.CoreV1().Pods("prosper-notes").List(ctx, metav1.ListOptions{LabelSelector: "prosper.dev/workload=notes-v1"})
		ready := false
		for _, pod := range now.Items {
			for _, c := range pod.Status.Conditions {
				ready = ready || (err == nil && !old[pod.Name] && c.Type == "Ready" && c.Status == "True")
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new pod of v1 Ready 90 s after its pods were deleted")
		}
	}
	for ok, deadline := 0, time.Now().Add(30*time.Second); ok < 20; time.Sleep(20 * time.Millisecond) {
		if code, _, _, err := p.get("notes", "/healthz"); err == nil && code == 200 {
			ok++
		} else {
			ok = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the router does not serve v1 steadily after its pods were replaced")
		}
	}

	// The control plane killed: the router keeps serving; a new one adopts
	// the node and the cluster's workloads.
	p.kill9()
	if code, _, _, err := p.get("notes", "/healthz"); err != nil || code != 200 {
		t.Errorf("with the control plane dead: %d %v; want the app still served", code, err)
	}
	p.start()
	p.waitBody("notes", "/healthz", "ok", 30*time.Second)
	rels := p.releases("notes")
	live := 0
	for _, rel := range rels {
		if rel.Status == store.StatusLive {
			live = rel.Version
		}
	}
	if live != 1 {
		t.Errorf("live release after the restart: v%d; want v1", live)
	}

	// The router (the node process) killed: the control plane starts another,
	// which finds the pods where the cluster kept them running.
	info, err := node.NewClient(p.dataDir).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitBody("notes", "/healthz", "ok", 30*time.Second)

	// The API server unreachable for 30 s: live traffic keeps flowing, since
	// the router needs nothing from it; then a deploy works again.
	thaw := n.Freeze(t)
	served, failed := 0, []string{}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		code, _, _, err := p.get("notes", "/api/notes")
		if err != nil || code != 200 {
			failed = append(failed, fmt.Sprintf("%d %v", code, err))
			continue
		}
		served++
	}
	thaw()
	if len(failed) > 0 || served < 100 {
		t.Errorf("with the API server away for 30 s: %d served, %d failed %v", served, len(failed), failed[:min(5, len(failed))])
	}
	r.write("handlers.go", readFile(t, filepath.Join("..", "..", "examples", "go-notes", "handlers.go"))+"\n// v4\n")
	r.commit("v4")
	out, err = r.push(p.remote("notes"), "main")
	if err != nil || !strings.Contains(out, "v4 is live") {
		t.Errorf("push after the API server came back: %v\n%s", err, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// watchDeployment reports, once ctx ends or the Deployment has been seen,
// whether a Deployment of that name existed in the namespace at some point.
func watchDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string) <-chan bool {
	seen := make(chan bool, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				seen <- true
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		seen <- false
	}()
	return seen
}
