package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The stand-ins run their interpreters and package manager on their own
// files alone, as the build's user: checked in a chroot, without a cluster.
func TestLanguageBasesRunAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	tests := []struct {
		name   string
		base   func(testing.TB) *langBase
		script string
		want   string
	}{
		{"node", nodeBase, `cd /tmp && printf '{"name":"x","version":"1.0.0","scripts":{"build":"node -e \"console.log(6*7)\""}}' > package.json && npm run --silent build && v=$(npm --version) && echo npm-ok`, "42\nnpm-ok"},
		{"python", pythonBase, `python3 -c 'import json, http.server, socketserver, signal; print(json.dumps([6*7]))'`, "[42]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			layer := filepath.Join(t.TempDir(), "layer.tar")
			if err := tt.base(t).writeTar(t, layer); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("tar", "-xf", layer, "-C", root).CombinedOutput(); err != nil {
				t.Fatalf("unpack: %v\n%s", err, out)
			}
			cmd := exec.Command("chroot", "--userspec=65532:65532", root, "/bin/sh", "-c", tt.script)
			cmd.Env = []string{"PATH=" + langBasePath, "HOME=/tmp"}
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tt.want {
				t.Fatalf("in the %s base: %v\n%s\nwant %q", tt.name, err, out, tt.want)
			}
		})
	}
}
