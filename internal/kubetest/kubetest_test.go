package kubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestStartCreateAndListNamespace(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubetest-probe"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}

	// The kubeconfig file must reach the same server with the same rights.
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cs2, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs2.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "kubetest-probe") {
		t.Fatalf("namespaces %v do not include kubetest-probe", names)
	}

	// A wrong token must be refused: the server really authenticates.
	bad := *s.Config
	bad.BearerToken = "wrong"
	cs3, err := kubernetes.NewForConfig(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs3.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("listing with a wrong token succeeded")
	}
}

func TestBinDir(t *testing.T) {
	t.Setenv(EnvKubeDir, "/opt/kube")
	if got := BinDir(); got != "/opt/kube/bin" {
		t.Errorf("BinDir() = %q with %s set", got, EnvKubeDir)
	}
	t.Setenv(EnvKubeDir, "")
	t.Setenv("XDG_CACHE_HOME", "/c")
	if got, want := BinDir(), "/c/prosper/kube-"+KubeVersion+"/bin"; got != want {
		t.Errorf("BinDir() = %q, want %q", got, want)
	}
}
