package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RewriteKubeconfig turns the kubeconfig k3s writes on a server (server
// https://127.0.0.1:6443, everything named "default") into one an operator can
// use: the API server's reachable address, and cluster, user and context named
// after the cluster so that it merges beside others.
func RewriteKubeconfig(data []byte, cluster, apiHost string) ([]byte, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("the server's kubeconfig: %w", err)
	}
	ctxName := cfg.CurrentContext
	kctx, ok := cfg.Contexts[ctxName]
	if !ok {
		return nil, fmt.Errorf("the server's kubeconfig has no context %q", ctxName)
	}
	cl, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("the server's kubeconfig has no cluster %q", kctx.Cluster)
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("the server's kubeconfig has no user %q", kctx.AuthInfo)
	}
	cl = cl.DeepCopy()
	cl.Server = "https://" + net.JoinHostPort(apiHost, "6443")
	out := clientcmdapi.NewConfig()
	out.Clusters[cluster] = cl
	out.AuthInfos[cluster] = user.DeepCopy()
	out.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	out.CurrentContext = cluster
	return clientcmd.Write(*out)
}

// MergeKubeconfig writes the cluster's entries (from RewriteKubeconfig) into
// the kubeconfig at path, replacing earlier entries of the same name and
// keeping every other cluster. It makes the cluster the current context only
// when the file had none.
func MergeKubeconfig(path string, clusterConfig []byte) error {
	add, err := clientcmd.Load(clusterConfig)
	if err != nil {
		return err
	}
	cfg, err := loadOrEmpty(path)
	if err != nil {
		return err
	}
	for k, v := range add.Clusters {
		cfg.Clusters[k] = v
	}
	for k, v := range add.AuthInfos {
		cfg.AuthInfos[k] = v
	}
	for k, v := range add.Contexts {
		cfg.Contexts[k] = v
	}
	if cfg.CurrentContext == "" {
		cfg.CurrentContext = add.CurrentContext
	}
	return writeKubeconfig(path, cfg)
}

// ForgetKubeconfig removes a deleted cluster's entries from the kubeconfig at
// path; a missing file or entry is fine.
func ForgetKubeconfig(path, cluster string) error {
	cfg, err := loadOrEmpty(path)
	if err != nil {
		return err
	}
	if _, ok := cfg.Contexts[cluster]; !ok {
		return nil
	}
	delete(cfg.Clusters, cluster)
	delete(cfg.AuthInfos, cluster)
	delete(cfg.Contexts, cluster)
	if cfg.CurrentContext == cluster {
		cfg.CurrentContext = ""
	}
	return writeKubeconfig(path, cfg)
}

// DefaultKubeconfig is the file kubectl uses: the first of $KUBECONFIG, or
// ~/.kube/config.
func DefaultKubeconfig() string {
	if list := filepath.SplitList(os.Getenv("KUBECONFIG")); len(list) > 0 && list[0] != "" {
		return list[0]
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".kube", "config")
}

func loadOrEmpty(path string) (*clientcmdapi.Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not a kubeconfig (%w); fix it or pass another with --kubeconfig", path, err)
	}
	return cfg, nil
}

func writeKubeconfig(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}
