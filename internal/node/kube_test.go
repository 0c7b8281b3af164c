package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
	"github.com/prosperhq/prosper/internal/runtime"
)

// kubeApp is the release the Kubernetes tests run: it says which pod and
// release answer, writes to its data directory, logs, and exits on /exit.
const kubeApp = `package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	host, _ := os.Hostname()
	fmt.Println("starting", host, "release", os.Getenv("PROSPER_RELEASE"), "greeting", os.Getenv("GREETING"))
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		err := os.WriteFile(filepath.Join(os.Getenv("DATA_DIR"), host), []byte("written"), 0o644)
		fmt.Fprintf(w, "%s %s %s %v", host, os.Getenv("PROSPER_RELEASE"), os.Getenv("GREETING"), err)
	})
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("last words of", host)
		os.Exit(3)
	})
	fmt.Println(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
`

// kubeRelease builds kubeApp into a release directory, as prosper's Go build
// does on Kubernetes.
func kubeRelease(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"main.go": kubeApp, "go.mod": "module kubeapp\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "release", ".prosper", "bin", "app"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, out)
	}
	return filepath.Join(dir, "release")
}

// A release runs as a Deployment of ready pods behind the router's addresses;
// its output reaches the log store, a crash is recorded with its last line,
// a Deployment deleted by hand comes back, and Stop removes everything.
func TestKubeRunsWorkloads(t *testing.T) {
	n := kubetest.StartNode(t)
	reg := kubetest.Registry(t)
	kubeconfig := n.Kubeconfig
	data := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	sup, err := NewSupervisor(SupervisorConfig{DataDir: data, Logger: logger,
		Kube: &KubeConfig{Kubeconfig: kubeconfig, Registry: reg, Resync: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}

	appData := filepath.Join(data, "appdata", "shop")
	spec := runtime.Spec{
		ID: "shop-v1", App: "shop", Release: 1, Artifact: kubeRelease(t), Command: "exec .prosper/bin/app",
		Env:      map[string]string{"GREETING": "hej", "PROSPER_RELEASE": "v1", "DATA_DIR": appData},
		Replicas: 2, HealthPath: "/healthz",
	}
	if err := sup.Start(ctx, spec); err != nil {
		t.Fatalf("start: %v", err)
	}
	st := waitWorkload(ctx, t, sup, "shop-v1", func(st runtime.Status) bool { return st.Ready() && len(st.Replicas) == 2 })
	hosts := map[string]bool{}
	for _, addr := range st.Endpoints() {
		body := kubeGet(ctx, t, "http://"+addr+"/")
		fields := strings.Fields(body)
		if len(fields) != 4 || fields[1] != "v1" || fields[2] != "hej" || fields[3] != "<nil>" {
			t.Fatalf("GET / of %s: %q; want the pod's name, v1, hej and no write error", addr, body)
		}
		hosts[fields[0]] = true
		if b, err := os.ReadFile(filepath.Join(appData, fields[0])); err != nil || string(b) != "written" {
			t.Errorf("the pod's write to DATA_DIR is not in %s: %q %v", appData, b, err)
		}
	}
	if len(hosts) != 2 {
		t.Errorf("answers from %v; want two pods", hosts)
	}
	d, err := cs.AppsV1().Deployments("prosper-shop").Get(ctx, "shop-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Deployment: %v", err)
	}
	img := d.Spec.Template.Spec.Containers[0].Image
	if !strings.HasPrefix(img, reg+"/prosper/shop@sha256:") || d.Labels["app.kubernetes.io/name"] != "shop" || d.Labels["prosper.dev/release"] != "1" {
		t.Errorf("deployment image %s, labels %v; want the image by digest and the app's labels", img, d.Labels)
	}
	if _, err := cs.CoreV1().Services("prosper-shop").Get(ctx, "shop-v1", metav1.GetOptions{}); err != nil {
		t.Errorf("the Service: %v", err)
	}

	// Output reaches the log store.
	waitFor(t, time.Minute, "the pods' first lines in the log store", func() bool {
		return len(searchLines(t, sup, "shop", "starting")) == 2
	})

	// A crash: the pod restarts, the crash says how and the last line.
	addr := st.Endpoints()[0]
	_, _ = http.Get("http://" + addr + "/exit")
	waitFor(t, 90*time.Second, "the crash", func() bool {
		cr, err := sup.Crashes(ctx, "shop", 0)
		return err == nil && len(cr) > 0
	})
	cr, _ := sup.Crashes(ctx, "shop", 0)
	last := cr[0].Lines
	if cr[0].Reason != "exit code 3" || cr[0].ExitCode != 3 || len(last) == 0 || !strings.Contains(last[len(last)-1].Text, "last words of") {
		t.Errorf("crash %+v; want exit code 3 with the last words", cr[0])
	}
	st = waitWorkload(ctx, t, sup, "shop-v1", func(st runtime.Status) bool { return st.Ready() && restartsOf(st) == 1 })
	if !strings.Contains(strings.Join(st.Replicas[0].StderrTail, "\n")+strings.Join(st.Replicas[1].StderrTail, "\n"), "last words of") {
		t.Errorf("replicas %+v; want the tail of the crashed container", st.Replicas)
	}

	// Deleted by hand: the reconcile loop puts it back, and the old pods'
	// addresses resolve to the new pods' for the router.
	old := st.Endpoints()
	if err := cs.AppsV1().Deployments("prosper-shop").Delete(ctx, "shop-v1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the deleted Deployment back", func() bool {
		d, err := cs.AppsV1().Deployments("prosper-shop").Get(ctx, "shop-v1", metav1.GetOptions{})
		return err == nil && d.DeletionTimestamp == nil
	})
	st = waitWorkload(ctx, t, sup, "shop-v1", func(st runtime.Status) bool {
		return st.Ready() && len(st.Replicas) == 2 && !slices.Contains(old, st.Endpoints()[0]) && !slices.Contains(old, st.Endpoints()[1])
	})
	waitFor(t, time.Minute, "the old addresses resolved to the new pods", func() bool {
		got, want := sup.kube.resolveAddrs(old, ""), st.Endpoints()
		slices.Sort(want)
		return slices.Equal(got, want)
	})

	// A second node of the same prosper adopts what runs: List sees it
	// without being told. Another prosper on the cluster sees nothing of it
	// and cannot take it over.
	other, err := NewSupervisor(SupervisorConfig{DataDir: t.TempDir(), Logger: logger,
		Kube: &KubeConfig{Kubeconfig: kubeconfig, Registry: reg, Instance: sup.kube.cfg.Instance}})
	if err != nil {
		t.Fatal(err)
	}
	seen, err := other.List(ctx)
	other.Close(ctx)
	if err != nil || len(seen) != 1 || seen[0].ID != "shop-v1" || seen[0].App != "shop" || seen[0].Release != 1 {
		t.Errorf("a new node lists %+v, %v; want shop-v1", seen, err)
	}
	stranger, err := NewSupervisor(SupervisorConfig{DataDir: t.TempDir(), Logger: logger, Kube: &KubeConfig{Kubeconfig: kubeconfig, Registry: reg}})
	if err != nil {
		t.Fatal(err)
	}
	seen, _ = stranger.List(ctx)
	err = stranger.Start(ctx, spec)
	stranger.Close(ctx)
	if len(seen) != 0 || err == nil || !strings.Contains(err.Error(), "belongs to another prosper") {
		t.Errorf("another prosper lists %+v and starts shop-v1 with %v; want nothing listed and a refusal", seen, err)
	}

	if err := sup.Stop(ctx, "shop-v1"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	waitFor(t, time.Minute, "the workload gone", func() bool {
		all, err := sup.List(ctx)
		return err == nil && len(all) == 0
	})
	if err := sup.Stop(ctx, "shop-v1"); err == nil || !strings.Contains(err.Error(), runtime.ErrNotFound.Error()) {
		t.Errorf("second stop: %v; want not found", err)
	}
}

// Commands that need a shell or a program the image lacks are refused before
// anything is applied, with what to do.
func TestKubeRefusesCommands(t *testing.T) {
	rel := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rel, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, "bin", "serve"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dyn, err := exec.LookPath("ls")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dyn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rel, "bin", "dynamic"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cmd, want string }{
		{"exec /usr/bin/python3 app.py", "its image does not have"},
		{"bin/serve | tee log", "needs a shell"},
		{"bin/nothing", "is not in the release"},
		{"bin/dynamic", "CGO_ENABLED=0"},
	} {
		_, err := containerCommand(runtime.Spec{ID: "a-v1", Artifact: rel, Command: c.cmd})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error saying %q", c.cmd, err, c.want)
		}
	}
	args, err := containerCommand(runtime.Spec{ID: "a-v1", Artifact: rel, Command: "exec serve --port $PORT --name ${APP}"})
	if err != nil || strings.Join(args, " ") != "serve --port $(PORT) --name $(APP)" {
		t.Errorf("args %q, %v; want $VAR as $(VAR) and the program found in bin/", args, err)
	}
	for in, want := range map[string]string{"shop": "shop", "shop-v2-candidate": "shop-v2-candidate"} {
		if got := dnsLabel(in); got != want {
			t.Errorf("dnsLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := dnsLabel("My_App"), dnsLabel("my-app"); a == b || !strings.HasPrefix(a, "my-app-") {
		t.Errorf("dnsLabel: My_App → %q, my-app → %q; want distinct labels", a, b)
	}
}

func waitWorkload(ctx context.Context, t *testing.T, sup *Supervisor, id string, ok func(runtime.Status) bool) runtime.Status {
	t.Helper()
	var last runtime.Status
	for ctx.Err() == nil {
		all, err := sup.List(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, st := range all {
			if st.ID == id {
				last = st
				if ok(st) {
					return st
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("workload %s did not get there; last status %+v", id, last)
	return last
}

func restartsOf(st runtime.Status) int {
	n := 0
	for _, r := range st.Replicas {
		n += r.Restarts
	}
	return n
}

func searchLines(t *testing.T, sup *Supervisor, app, text string) []runtime.LogLine {
	t.Helper()
	lines, err := sup.SearchLogs(context.Background(), LogSearch{App: app, Grep: text, Limit: 100})
	if err != nil {
		t.Fatalf("search logs: %v", err)
	}
	return lines
}

func kubeGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
