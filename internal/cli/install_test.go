package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// runInstall runs "prosper install" with args, on its own command so that the
// test does not depend on the root's list of commands.
func runInstall(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newInstallCmd(&env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	if stderr.Len() > 0 {
		t.Errorf("prosper install %s wrote to stderr: %s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), err
}

func TestInstallDryRunOffline(t *testing.T) {
	isolate(t)
	out, err := runInstall(t, "--dry-run", "--namespace", "ops", "--set", "registry=registry.example.com:5000", "--set", "ingress.host=prosper.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kind: Namespace\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: prosper\n  name: ops\n",
		"# Source: prosper/templates/deployment.yaml", "kind: ClusterRole\n", "kind: Ingress\n",
		"- --registry=registry.example.com:5000", "host: prosper.example.com", "namespace: ops",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
}

func TestInstallErrors(t *testing.T) {
	home := isolate(t)
	t.Setenv("KUBECONFIG", "")
	values := filepath.Join(home, "values.yaml")
	os.WriteFile(values, []byte("registry: [not, a, host]\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no registry", []string{"--dry-run"}, []string{"registry is required", "registry=HOST:PORT"}},
		{"set without =", []string{"--dry-run", "--set", "registry"}, []string{`--set "registry"`, "KEY=VALUE"}},
		{"unknown value", []string{"--dry-run", "--set", "registry=r:5000", "--set", "replicas=3"}, []string{"invalid values", "'replicas' not allowed"}},
		{"values of the wrong type", []string{"--dry-run", "-f", values}, []string{"invalid values", "/registry"}},
		{"missing values file", []string{"--dry-run", "-f", filepath.Join(home, "nope.yaml")}, []string{"read values", "nope.yaml"}},
		{"image with dry run", []string{"--dry-run", "--build-image", "--set", "registry=r:5000"}, []string{"--build-image pushes an image", "prosper image build"}},
		{"no kubeconfig", []string{"--set", "registry=r:5000"}, []string{filepath.Join(home, ".kube", "config"), "--kubeconfig FILE", "--dry-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runInstall(t, tt.args...)
			if err == nil {
				t.Fatal("install succeeded")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error on several lines:\n%s", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestInstallOnCluster(t *testing.T) {
	api := kubetest.Start(t) // before isolate, which moves HOME away from the test binaries' cache
	isolate(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	set := []string{"--kubeconfig", api.Kubeconfig, "--set", "registry=registry.example.com:5000"}

	t.Run("dry run changes nothing", func(t *testing.T) {
		out, err := runInstall(t, append(set, "--dry-run")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "kind: Deployment") {
			t.Errorf("no manifests printed:\n%s", out)
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "prosper", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a dry run created the namespace: %v", err)
		}
	})

	t.Run("installs without waiting", func(t *testing.T) {
		out, err := runInstall(t, append(set, "--wait=false")...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"applied Namespace prosper", "applied Deployment prosper/prosper", "--wait=false"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if _, err := cs.AppsV1().Deployments("prosper").Get(ctx, "prosper", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
	})

	t.Run("waiting gives up with the reason", func(t *testing.T) {
		// The test API server runs no controllers: the deployment never gets a pod.
		_, err := runInstall(t, append(set, "--timeout", "1s")...)
		if err == nil || !strings.Contains(err.Error(), "not available after 1s") || !strings.Contains(err.Error(), "no pod was created") {
			t.Errorf("error %v, want one saying the deployment has no pod after 1s", err)
		}
	})
}

func TestInstallImageOfThisRelease(t *testing.T) {
	isolate(t)
	old := Version
	Version = "v1.2.3"
	t.Cleanup(func() { Version = old })
	out, err := runInstall(t, "--dry-run", "--set", "registry=r:5000")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "image: ghcr.io/prosperhq/prosper:v1.2.3\n") {
		t.Errorf("a release build does not install its own version:\n%s", out)
	}
	out, err = runInstall(t, "--dry-run", "--set", "registry=r:5000", "--set", "image.tag=edge")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "image: ghcr.io/prosperhq/prosper:edge\n") {
		t.Errorf("--set image.tag does not win over the release's version:\n%s", out)
	}
}
