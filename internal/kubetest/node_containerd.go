package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pauseImage is the pod sandbox image the node builds and names in containerd's
// sandbox_image; nothing can be pulled here.
const pauseImage = "prosper.test/pause:1"

// containerdConfig is containerd 1.6's configuration for a node of its own: its own
// root, state and socket, and the CRI settings this machine needs.
func containerdConfig(root, state, socket, cniConf string) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine refuses negative oom_score_adj; without it every sandbox fails
  # with runc's "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, root, state, socket, socket+".ttrpc", filepath.Join(root, "opt"), pauseImage, cniConf)
}

// cniConflist is the pods' network: a bridge with host-local addresses from the
// pod subnet and portmap for hostPorts. No masquerading: pods need not reach
// outside, and fewer host rules are left to clean.
func cniConflist(ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "prosper-kubetest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridgeName, ipamDir, podSubnet, podGateway)
}

// startContainerd writes the configuration and CNI network under dir, with the
// state and socket under the short directory runDir (a unix socket path is limited
// to 108 bytes), starts containerd and waits for its socket to answer.
func startContainerd(t testing.TB, dir, runDir string) (socket string, err error) {
	root := filepath.Join(dir, "containerd")
	cniConf := filepath.Join(dir, "cni")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return "", fmt.Errorf("cni conf dir: %w", err)
	}
	conflist := cniConflist(filepath.Join(dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(cniConf, "10-prosper.conflist"), []byte(conflist), 0o644); err != nil {
		return "", fmt.Errorf("write cni conflist: %w", err)
	}
	socket = filepath.Join(runDir, "containerd.sock")
	config := filepath.Join(dir, "containerd.toml")
	cfg := containerdConfig(root, filepath.Join(runDir, "state"), socket, cniConf)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("write containerd config: %w", err)
	}
	p, err := run(t, dir, "containerd", "containerd", "--config", config)
	if err != nil {
		return "", err
	}
	err = poll(p, 30*time.Second, func() bool {
		_, err := ctr(socket, "version")
		return err == nil
	})
	return socket, err
}

// ctr runs containerd's client against the node's socket in the CRI's namespace.
func ctr(socket string, args ...string) (string, error) {
	return sh("ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...)
}

// importImage loads a docker or OCI tarball into the node's containerd.
func importImage(socket, tarball string) error {
	if _, err := ctr(socket, "images", "import", tarball); err != nil {
		return fmt.Errorf("import image: %w", err)
	}
	return nil
}

// killTasks removes every container task of the node (pods' containers and
// sandboxes), so that no shim or container outlives containerd. Run after the
// kubelet is stopped, or it would start them again. All are killed first; then the
// containers' tasks are deleted before the sandboxes', whose shim serves the pod.
func killTasks(t testing.TB, socket string) {
	out, err := ctr(socket, "tasks", "ls", "-q")
	if err != nil {
		t.Logf("kubetest clean-up: %v", err)
		return
	}
	ids := strings.Fields(out)
	for _, id := range ids {
		_, _ = ctr(socket, "tasks", "kill", "-s", "SIGKILL", id)
	}
	out, _ = ctr(socket, "containers", "ls", "-q", `labels."io.cri-containerd.kind"==sandbox`)
	sandbox := map[string]bool{}
	for _, id := range strings.Fields(out) {
		sandbox[id] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, last := range []bool{false, true} {
		for _, id := range ids {
			if sandbox[id] != last {
				continue
			}
			for {
				_, err := ctr(socket, "tasks", "rm", id)
				if err == nil || strings.Contains(err.Error(), "not found") {
					break
				}
				// A task still running its kill is refused; others are reported.
				if !strings.Contains(err.Error(), "running") || time.Now().After(deadline) {
					t.Logf("kubetest clean-up: %v", err)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}
