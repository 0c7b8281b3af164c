package provision

import (
	"os/exec"
	"strings"
	"testing"
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
