package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// TestClusterCommandsOnSSHHosts runs the cluster commands as a user would, on
// two real SSH hosts, with the user's key in a file the cluster file names.
func TestClusterCommandsOnSSHHosts(t *testing.T) {
	cp, worker := testhost.New(t, testhost.Options{}), testhost.New(t, testhost.Options{})
	dir := t.TempDir()
	priv, authorized, _, err := sshx.GenerateKey("operator")
	if err != nil {
		t.Fatal(err)
	}
	identity := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(identity, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*testhost.Host{cp, worker} {
		h.Authorize(authorized)
		fakek3s.Install(t, h, fakek3s.Options{})
	}
	binary, _ := fakek3s.Build(t, "v1.31.4+k3s1")
	file := filepath.Join(dir, "lab.yaml")
	os.WriteFile(file, fmt.Appendf(nil, `apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: lab}
spec:
  provider:
    ssh:
      identityFile: %s
      hosts: [{address: %s, pool: control-plane}, {address: %s, pool: workers}]
  pools: [{name: workers, count: 1}]
  platform:
    postgres: {backup: {s3: {endpoint: "https://s3.example", bucket: pg}}}
    # A published image: the build and push of prosper's own, which needs
    # the registry fake k3s does not run, is tested in internal/provision.
    prosperImage: registry.example/prosper@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`, identity, cp.IP(), worker.IP()), 0o600)
	state, kubeconfig := filepath.Join(dir, "clusters"), filepath.Join(dir, "kubeconfig")
	common := []string{"-f", file, "--state-dir", state, "--kubeconfig", kubeconfig}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")

	// The backup's credentials are checked before anything is touched.
	fails(t, []string{"AWS_ACCESS_KEY_ID"}, append([]string{"cluster", "create", "--k3s-binary", binary}, common...)...)
	if _, err := os.Stat(filepath.Join(state, "lab")); err == nil {
		t.Fatal("a create refused for missing credentials left state behind")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")

	out := ok(t, append([]string{"cluster", "create", "--dry-run", "--k3s-binary", binary}, common...)...)
	if !strings.Contains(out, "would") || strings.Contains(out, "is ready") {
		t.Fatalf("dry run:\n%s", out)
	}
	// Without a published image, the plan builds prosper's from the flags'.
	data, _ := os.ReadFile(file)
	building := filepath.Join(dir, "building.yaml")
	os.WriteFile(building, regexp.MustCompile(`(?m)^    prosperImage: .*\n`).ReplaceAll(data, nil), 0o600)
	out = ok(t, "cluster", "create", "--dry-run", "--k3s-binary", binary, "-f", building, "--state-dir", state, "--kubeconfig", kubeconfig,
		"--prosper-binary", "/opt/prosper-linux", "--prosper-base", "registry.example/base:1")
	if !strings.Contains(out, "would build prosper's image from /opt/prosper-linux on registry.example/base:1") {
		t.Errorf("dry run without prosperImage does not plan the image from the flags:\n%s", out)
	}
	out = ok(t, append([]string{"cluster", "create", "--k3s-binary", binary}, common...)...)
	for _, want := range []string{"==> [1/", "lab-cp-1", "lab-workers-1", "Ready", "kubectl --context lab get nodes"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-value") {
		t.Errorf("the backup secret's value was printed")
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil || cfg.Contexts["lab"] == nil {
		t.Fatalf("kubeconfig: %v %v", err, cfg)
	}
	secretFile := cp.Root() + "/var/lib/rancher/k3s/server/manifests/prosper-05-postgres-backup-secret.yaml"
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatalf("the backup credentials' Secret is not on the server: %v", err)
	}
	if fi, _ := os.Stat(secretFile); fi.Mode().Perm() != 0o600 || !strings.Contains(string(secret), "prosper-postgres-backup-s3") {
		t.Errorf("backup secret manifest: mode %v\n%s", fi.Mode(), secret)
	}

	chart, err := os.ReadFile(cp.Root() + "/var/lib/rancher/k3s/server/manifests/prosper-16-prosper.yaml")
	if err != nil || !strings.Contains(string(chart), "repository: registry.example/prosper") || !strings.Contains(string(chart), "digest: sha256:0123456789abcdef") {
		t.Errorf("prosper's HelmChart does not run the file's prosperImage: %v\n%s", err, chart)
	}

	var rows []struct {
		Name, Provider string
		Nodes          int
	}
	if err := json.Unmarshal([]byte(ok(t, "cluster", "list", "--state-dir", state, "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "lab" || rows[0].Provider != "ssh" || rows[0].Nodes != 2 {
		t.Fatalf("list: %+v", rows)
	}

	// The kubeconfig can be fetched again after it was lost.
	os.Remove(kubeconfig)
	ok(t, append([]string{"cluster", "kubeconfig"}, common...)...)
	if cfg, err := clientcmd.LoadFromFile(kubeconfig); err != nil || cfg.Contexts["lab"] == nil {
		t.Fatalf("kubeconfig fetched again: %v", err)
	}

	fails(t, []string{"--yes"}, append([]string{"cluster", "delete"}, common...)...)
	ok(t, append([]string{"cluster", "delete", "--yes"}, common...)...)
	if _, err := os.Stat(worker.Root() + "/usr/local/bin/k3s"); err == nil {
		t.Error("k3s is still on the worker after delete")
	}
	if out := ok(t, "cluster", "list", "--state-dir", state); !strings.Contains(out, "no clusters") {
		t.Errorf("list after delete:\n%s", out)
	}
}
