package platform

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// TestApplyDryRun checks every manifest prosper produces against a real
// kube-apiserver with the HelmChart CRD installed, as k3s has it. The API server is
// started once and shared by the subtests.
func TestApplyDryRun(t *testing.T) {
	s := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := Apply(ctx, s.Config, []Manifest{CRD()}, false); err != nil {
		t.Fatalf("install the HelmChart CRD: %v", err)
	}
	waitEstablished(t, ctx, s)

	for _, name := range []string{"example", "ssh", "minimal"} {
		t.Run(name, func(t *testing.T) {
			c := loadCluster(t, name)
			ms, err := Manifests(c)
			if err != nil {
				t.Fatal(err)
			}
			if sec, err := Secret(c, func(k string) string { return "test-" + k }); err == nil {
				ms = append(ms, sec)
			}
			if sec, err := HcloudSecret(c, func(k string) string { return "test-" + k }); err == nil {
				ms = append(ms, sec)
			} else if !errors.Is(err, ErrNotHetzner) {
				t.Fatal(err)
			}
			// A dry run creates no namespace, so the Secret in prosper-system is
			// checked against a namespace that exists for real, as it will in the
			// orchestration, which applies the namespace first.
			if err := Apply(ctx, s.Config, ms[:1], false); err != nil {
				t.Fatalf("create the namespace: %v", err)
			}
			if err := Apply(ctx, s.Config, ms, true); err != nil {
				t.Fatalf("dry run: %v", err)
			}
		})
	}

	t.Run("dry run stores nothing", func(t *testing.T) {
		dyn, err := dynamic.NewForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		gvr := schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}
		list, err := dyn.Resource(gvr).Namespace("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Errorf("%d HelmCharts stored by a dry run", len(list.Items))
		}
	})

	broken := []struct{ name, yaml, want string }{
		{"version not a string", `apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: broken, namespace: kube-system}
spec: {chart: nats, version: 2, valuesContent: ""}
`, "spec.version"},
		{"failurePolicy outside its enum", `apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata: {name: broken, namespace: kube-system}
spec: {chart: nats, failurePolicy: retry}
`, "failurePolicy"},
		{"unknown kind", `apiVersion: helm.cattle.io/v1
kind: HelmRelease
metadata: {name: broken, namespace: kube-system}
`, "HelmRelease"},
		{"invalid namespace name", `apiVersion: v1
kind: Namespace
metadata: {name: Not_A_DNS_Label}
`, "Not_A_DNS_Label"},
	}
	for _, b := range broken {
		t.Run("broken/"+b.name, func(t *testing.T) {
			err := Apply(ctx, s.Config, []Manifest{{Name: "broken.yaml", Data: []byte(b.yaml)}}, true)
			if err == nil {
				t.Fatal("a broken manifest passed the dry run")
			}
			if !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), "broken.yaml") {
				t.Errorf("error %q does not name %q and the file", err, b.want)
			}
		})
	}
}

// waitEstablished polls until the API server serves HelmCharts.
func waitEstablished(t *testing.T, ctx context.Context, s *kubetest.APIServer) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}
	for {
		_, err := dyn.Resource(gvr).Namespace("kube-system").List(ctx, metav1.ListOptions{})
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("HelmChart CRD not served: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
