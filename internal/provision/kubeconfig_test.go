package provision

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// k3sKubeconfig is shaped like /etc/rancher/k3s/k3s.yaml.
const k3sKubeconfig = `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Y2E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    token: secret-token
`

func TestKubeconfigRewriteMergeForget(t *testing.T) {
	out, err := RewriteKubeconfig([]byte(k3sKubeconfig), "acme", "198.19.0.6")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), ".kube", "config")
	// An operator's existing file with another cluster and its own context.
	other, _ := RewriteKubeconfig([]byte(k3sKubeconfig), "other", "198.19.0.10")
	if err := MergeKubeconfig(path, other); err != nil {
		t.Fatal(err)
	}
	for range 2 { // merging twice replaces, never duplicates
		if err := MergeKubeconfig(path, out); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters["acme"].Server; got != "https://198.19.0.6:6443" {
		t.Errorf("server %q", got)
	}
	if cfg.AuthInfos["acme"].Token != "secret-token" || cfg.Contexts["acme"].Cluster != "acme" {
		t.Errorf("user or context not carried: %+v %+v", cfg.AuthInfos["acme"], cfg.Contexts["acme"])
	}
	if cfg.CurrentContext != "other" || len(cfg.Contexts) != 2 {
		t.Errorf("current %q, %d contexts: the operator's current context must stay", cfg.CurrentContext, len(cfg.Contexts))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v: a kubeconfig holds credentials", fi.Mode())
	}
	if err := ForgetKubeconfig(path, "acme"); err != nil {
		t.Fatal(err)
	}
	cfg, _ = clientcmd.LoadFromFile(path)
	if _, ok := cfg.Contexts["acme"]; ok || cfg.Clusters["other"] == nil {
		t.Errorf("after forget: %v", cfg.Contexts)
	}
	if _, err := RewriteKubeconfig([]byte("not: [a kubeconfig"), "acme", "x"); err == nil {
		t.Error("a broken kubeconfig was accepted")
	}
}
