package provision

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// State is what prosper keeps on the operator's machine about one cluster, in
// a directory of its own (mode 0700): the cluster's SSH key, its k3s join
// token, the host keys it trusted, its kubeconfig and the cluster file it was
// last created or scaled from. Nothing in it is shared with other clusters, so
// deleting a cluster deletes the directory.
type State struct {
	Dir string
}

// DefaultStateRoot is where cluster state directories live unless
// PROSPER_CLUSTERS_DIR says otherwise: $XDG_CONFIG_HOME/prosper/clusters.
func DefaultStateRoot() (string, error) {
	if d := os.Getenv("PROSPER_CLUSTERS_DIR"); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w (set PROSPER_CLUSTERS_DIR)", err)
	}
	return filepath.Join(cfg, "prosper", "clusters"), nil
}

// StateFor returns the state of the named cluster under root.
func StateFor(root, cluster string) State { return State{Dir: filepath.Join(root, cluster)} }

// Files of a state directory.
const (
	keyFile        = "id_ed25519"
	tokenFile      = "k3s-token"
	knownHostsFile = "known_hosts"
	kubeconfigFile = "kubeconfig"
	clusterFile    = "cluster.yaml"
)

// Exists says whether the state directory holds a cluster.
func (s State) Exists() bool {
	_, err := os.Stat(filepath.Join(s.Dir, keyFile))
	return err == nil
}

// Path is the path of a file of the state.
func (s State) Path(name string) string { return filepath.Join(s.Dir, name) }

// KeyPlanned says what Key would do, for dry runs.
func (s State) KeyPlanned() []string {
	if s.Exists() {
		return nil
	}
	return []string{"generate the cluster's SSH key and k3s token in " + s.Dir}
}

// Key returns the cluster's SSH key and its authorized_keys line, creating
// both, and the k3s join token, on first use.
func (s State) Key(cluster string) (ssh.Signer, string, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create cluster state: %w", err)
	}
	path := s.Path(keyFile)
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		priv, authorized, _, err := sshx.GenerateKey("prosper-cluster-" + cluster)
		if err != nil {
			return nil, "", err
		}
		if err := writeFileAtomic(path+".pub", []byte(authorized+"\n"), 0o644); err != nil {
			return nil, "", err
		}
		if err := writeFileAtomic(path, priv, 0o600); err != nil {
			return nil, "", err
		}
		pemBytes = priv
	} else if err != nil {
		return nil, "", fmt.Errorf("read cluster key: %w", err)
	}
	signer, err := sshx.ParseKey(pemBytes)
	if err != nil {
		return nil, "", fmt.Errorf("cluster key %s: %w", path, err)
	}
	authorized := string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	authorized = authorized[:len(authorized)-1] + " prosper-cluster-" + cluster
	return signer, authorized, nil
}

// Token returns the cluster's k3s join token, creating it on first use.
func (s State) Token() (string, error) {
	path := s.Path(tokenFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read k3s token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", err
	}
	return tok, writeFileAtomic(path, []byte(tok), 0o600)
}

// KnownHosts is the cluster's own known_hosts: host keys are trusted on first
// use and a changed key is refused, except where Forget was called for a
// machine the provider replaced.
func (s State) KnownHosts() (*sshx.KnownHosts, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	return sshx.NewKnownHosts(s.Path(knownHostsFile))
}

// SaveClusterFile keeps the file the cluster was last built from, for list.
func (s State) SaveClusterFile(data []byte) error {
	return writeFileAtomic(s.Path(clusterFile), data, 0o600)
}

// Remove deletes the state directory.
func (s State) Remove() error { return os.RemoveAll(s.Dir) }

// Known lists the clusters with state under root, by name, with the cluster
// file each was last built from (nil when unreadable).
func Known(root string) ([]KnownCluster, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []KnownCluster
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st := StateFor(root, e.Name())
		if !st.Exists() {
			continue
		}
		k := KnownCluster{Name: e.Name(), State: st}
		if c, err := clusterfile.Load(st.Path(clusterFile)); err == nil {
			k.Cluster = &c
		} else {
			k.Err = err
		}
		if fi, err := os.Stat(st.Path(keyFile)); err == nil {
			k.Created = fi.ModTime()
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// KnownCluster is a cluster this machine holds state for.
type KnownCluster struct {
	Name    string
	State   State
	Cluster *clusterfile.Cluster
	Err     error
	Created time.Time
}
