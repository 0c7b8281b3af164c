package provision

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/prosperhq/prosper/internal/provision/fakek3s"
	"github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

const testSHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestK3sScript(t *testing.T) {
	tests := []struct {
		name string
		k    K3sInstall
		want []string
		not  []string
	}{
		{"first server, online", K3sInstall{Version: "v1.31.4+k3s1", SHA256: testSHA, Role: K3sFirstServer, NodeName: "acme-cp-1",
			NodeIP: "10.0.0.2", Token: "0123456789abcdefXYZ"},
			[]string{"cluster-init: true", "releases/download/v1.31.4%2Bk3s1/k3s", "checksum mismatch", "ExecStart=/usr/local/bin/k3s server", "node-ip: 10.0.0.2"},
			[]string{"server: https"}},
		{"platform agent, air-gapped", K3sInstall{Version: "v1.31.4+k3s1", SHA256: testSHA, Role: K3sAgent, NodeName: "acme-platform-1",
			ServerURL: "https://10.0.0.2:6443", Token: "0123456789abcdefXYZ", Uploaded: "/var/lib/prosper/k3s",
			Labels: map[string]string{"prosper.dev/pool": "platform"}, Taints: []string{"prosper.dev/platform=true:NoSchedule"}},
			[]string{"src='/var/lib/prosper/k3s'", "server: https://10.0.0.2:6443", "k3s-agent.service", "  - prosper.dev/pool=platform", "  - prosper.dev/platform=true:NoSchedule"},
			[]string{"curl", "cluster-init"}},
		{"HA server from a mirror, public address in the certificate", K3sInstall{Version: "v1.31.4+k3s1", SHA256: testSHA, Role: K3sServer, NodeName: "acme-cp-2",
			ServerURL: "https://10.0.0.2:6443", Token: "0123456789abcdefXYZ", URL: "https://mirror.example/k3s/v1.31.4+k3s1/k3s", TLSSANs: []string{"203.0.113.7"}},
			[]string{"'https://mirror.example/k3s/v1.31.4+k3s1/k3s'", "tls-san:\n  - 203.0.113.7\n", "server: https://10.0.0.2:6443"},
			[]string{"github.com", "cluster-init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.k.Script()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("script lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(s, n) {
					t.Errorf("script has %q", n)
				}
			}
			// It must be a valid POSIX shell script.
			if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
				t.Fatalf("sh -n: %v\n%s", err, out)
			}
		})
	}
}

func TestK3sValidate(t *testing.T) {
	good := K3sInstall{Version: "v1.31.4+k3s1", SHA256: testSHA, Role: K3sServer, NodeName: "acme-cp-2",
		ServerURL: "https://10.0.0.2:6443", Token: "0123456789abcdefXYZ"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*K3sInstall)
		want string
	}{
		{"unpinned version", func(k *K3sInstall) { k.Version = "latest" }, "pinned release"},
		{"bad checksum", func(k *K3sInstall) { k.SHA256 = "abc" }, "SHA-256"},
		{"join without server", func(k *K3sInstall) { k.ServerURL = "" }, "first server's URL"},
		{"token with a quote", func(k *K3sInstall) { k.Token = "0123456789abcdef'; rm -rf /" }, "join token"},
		{"bad taint", func(k *K3sInstall) { k.Taints = []string{"dedicated"} }, "key=value:NoSchedule"},
		{"bad node name", func(k *K3sInstall) { k.NodeName = "Acme_CP" }, "DNS label"},
		{"URL with a quote", func(k *K3sInstall) { k.URL = "https://x/'k3s" }, "download URL"},
		{"TLS name with a space", func(k *K3sInstall) { k.TLSSANs = []string{"a b"} }, "TLS name"},
	}
	for _, tt := range tests {
		k := good
		tt.edit(&k)
		if err := k.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if _, err := k.Script(); err == nil {
			t.Errorf("%s: a script was made from a bad install", tt.name)
		}
	}
}

// TestK3sInstallUninstallOnHost runs the install script and then the
// uninstall script over SSH on a test host with the fake k3s and systemctl.
func TestK3sInstallUninstallOnHost(t *testing.T) {
	h := testhost.New(t, testhost.Options{})
	fakek3s.Install(t, h, fakek3s.Options{})
	_, line, signer, err := sshx.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	h.Authorize(line)
	kh, err := sshx.NewKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := sshx.Dial(ctx, sshx.Config{Addr: h.Addr(), Signer: signer, HostKeyCallback: kh.Callback(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bin, sum := fakek3s.Build(t, "v1.31.4+k3s1")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.Upload(ctx, f, "/var/lib/prosper/k3s", 0o755); err != nil {
		t.Fatal(err)
	}
	k := K3sInstall{Version: "v1.31.4+k3s1", SHA256: sum, Role: K3sFirstServer, NodeName: "acme-cp-1", NodeIP: h.IP(),
		Token: "0123456789abcdefXYZ", Uploaded: "/var/lib/prosper/k3s", Registries: platform.RegistriesYAML()}
	script, err := k.Script()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Output(ctx, script); err != nil || !strings.HasSuffix(out, "server on acme-cp-1: ok\n") {
		t.Fatalf("install: %q, %v\n%s", out, err, fakek3s.Log(h, "k3s"))
	}
	if out, err := c.Output(ctx, "systemctl is-active k3s; k3s --version | head -n1"); err != nil || out != "active\nk3s version v1.31.4+k3s1 (fake)\n" {
		t.Fatalf("after install: %q, %v", out, err)
	}
	pidFile := filepath.Join(h.Root(), fakek3s.StateDir, "k3s.pid")
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The registry mirror is written, and an unchanged run restarts nothing.
	if b, err := os.ReadFile(filepath.Join(h.Root(), "etc/rancher/k3s/registries.yaml")); err != nil ||
		!strings.Contains(string(b), `registry.prosper.internal:`) || !strings.Contains(string(b), `"http://127.0.0.1:30500"`) {
		t.Errorf("registries.yaml: %q %v", b, err)
	}
	if out, err := c.Output(ctx, script); err != nil || !strings.HasSuffix(out, ": ok\n") {
		t.Fatalf("install again: %q %v", out, err)
	}
	if again, _ := os.ReadFile(pidFile); string(again) != string(pid) {
		t.Errorf("k3s restarted (pid %s → %s) by a run that changed nothing", pid, again)
	}
	for range 2 { // idempotent
		if out, err := c.Output(ctx, K3sUninstallScript()); err != nil || !strings.Contains(out, "k3s removed") {
			t.Fatalf("uninstall: %q, %v", out, err)
		}
	}
	for _, p := range []string{"usr/local/bin/k3s", "etc/rancher/k3s", "var/lib/rancher/k3s", "etc/systemd/system/k3s.service",
		"usr/local/lib/fake-systemd/k3s.enabled", "usr/local/lib/fake-systemd/k3s.pid"} {
		if _, err := os.Stat(filepath.Join(h.Root(), p)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	if _, err := os.Stat("/proc/" + strings.TrimSpace(string(pid))); !os.IsNotExist(err) {
		t.Errorf("k3s (pid %s) still runs after uninstall", strings.TrimSpace(string(pid)))
	}
	if out, _ := c.Output(ctx, "systemctl is-active k3s || true"); out != "inactive\n" {
		t.Errorf("is-active after uninstall: %q", out)
	}
}

// TestK3sConfigExternalCloudProvider parses config.yaml as k3s reads it (YAML,
// the flags' names as keys, lists for repeatable flags).
func TestK3sConfigExternalCloudProvider(t *testing.T) {
	tests := []struct {
		role     K3sRole
		external bool
		// wantDisable is disable-cloud-controller; wantKubelet the kubelet-arg list.
		wantDisable any
		wantKubelet []any
	}{
		{K3sFirstServer, true, true, []any{"cloud-provider=external"}},
		{K3sServer, true, true, []any{"cloud-provider=external"}},
		{K3sAgent, true, nil, []any{"cloud-provider=external"}}, // an agent runs no controller manager
		{K3sFirstServer, false, nil, nil},
		{K3sAgent, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s external=%v", tt.role, tt.external), func(t *testing.T) {
			k := K3sInstall{Version: "v1.31.4+k3s1", SHA256: testSHA, Role: tt.role, NodeName: "acme-1",
				ServerURL: "https://10.0.0.2:6443", Token: "0123456789abcdefXYZ", ExternalCloudProvider: tt.external,
				Labels: map[string]string{"prosper.dev/pool": "workers"}}
			var cfg map[string]any
			if err := yaml.Unmarshal([]byte(k.config()), &cfg); err != nil {
				t.Fatalf("config.yaml is not YAML: %v\n%s", err, k.config())
			}
			if got := cfg["disable-cloud-controller"]; got != tt.wantDisable {
				t.Errorf("disable-cloud-controller = %v, want %v", got, tt.wantDisable)
			}
			disabled, _ := cfg["disable"].([]any)
			if local := slices.Contains(disabled, any("local-storage")); tt.role != K3sAgent && local != tt.external {
				t.Errorf("disable = %v: local-storage must be off exactly when Hetzner's CSI gives the default StorageClass", disabled)
			}
			got, _ := cfg["kubelet-arg"].([]any)
			if !reflect.DeepEqual(got, tt.wantKubelet) {
				t.Errorf("kubelet-arg = %v, want %v", cfg["kubelet-arg"], tt.wantKubelet)
			}
			// The rest of the file is unaffected.
			if labels, _ := cfg["node-label"].([]any); len(labels) != 1 || labels[0] != "prosper.dev/pool=workers" {
				t.Errorf("node-label = %v", cfg["node-label"])
			}
			if s, err := k.Script(); err != nil || !strings.Contains(s, k.config()) {
				t.Errorf("the script does not write this config (err %v)", err)
			}
		})
	}
}
