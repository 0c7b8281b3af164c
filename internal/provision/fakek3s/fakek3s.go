// Package fakek3s is a test fixture: a fake k3s binary (cmd/fake-k3s) and
// fake systemctl, journalctl and cloud-init commands (scripts/) for the test
// hosts of package testhost, so that prosper's install phase runs for real
// (upload, checksum, unit file, restart, join, node API) where the real k3s
// cannot be downloaded. It is never shipped.
package fakek3s

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/provision/testhost"
)

//go:embed scripts/systemctl scripts/journalctl scripts/cloud-init
var scripts embed.FS

// StateDir is where the fake systemctl keeps each unit's pid, log and
// readiness file on a host.
const StateDir = "/usr/local/lib/fake-systemd"

type built struct {
	path, sum string
	err       error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*built{}
)

// Build compiles the fake k3s (static, so it runs on any test host) that
// reports version, once per test binary and version, and returns its path and
// SHA-256. The binary is kept at one path per version under os.TempDir,
// replaced atomically, so test processes share it and leave one file behind.
func Build(t testing.TB, version string) (path, sha256sum string) {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	b, ok := builds[version]
	if !ok {
		b = build(version)
		builds[version] = b
	}
	if b.err != nil {
		t.Fatalf("fakek3s: %v", b.err)
	}
	return b.path, b.sum
}

func build(version string) *built {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return &built{err: fmt.Errorf("cannot find the fake's source")}
	}
	dir := filepath.Join(os.TempDir(), "prosper-fakek3s")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &built{err: err}
	}
	out := filepath.Join(dir, "k3s-"+strings.ReplaceAll(version, "+", "_"))
	tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", tmp, "./cmd/fake-k3s")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return &built{err: fmt.Errorf("build fake k3s: %w: %s", err, msg)}
	}
	data, err := os.ReadFile(tmp)
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		return &built{err: err}
	}
	sum := sha256.Sum256(data)
	return &built{path: out, sum: hex.EncodeToString(sum[:])}
}

// Options choose what Install puts on a host besides systemctl and
// journalctl.
type Options struct {
	// CloudInit installs a fake cloud-init whose "status" says running
	// until DoneAfter has passed or /var/lib/cloud/instance/boot-finished
	// exists (see CloudInitDone).
	CloudInit bool
	DoneAfter time.Duration
}

// Install puts the fake systemctl and journalctl (and cloud-init, with the
// option) in the host's /usr/local/bin, which comes before /usr/bin on
// root's PATH over SSH. Processes the fake systemctl starts are killed when
// the test ends.
func Install(t testing.TB, h *testhost.Host, opts Options) {
	t.Helper()
	bin := filepath.Join(h.Root(), "usr/local/bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatalf("fakek3s: %v", err)
	}
	names := []string{"systemctl", "journalctl"}
	if opts.CloudInit {
		names = append(names, "cloud-init")
		at := filepath.Join(h.Root(), "usr/local/lib/fake-cloud-init/done-at")
		if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
			t.Fatalf("fakek3s: %v", err)
		}
		done := time.Now().Add(opts.DoneAfter).Unix()
		if opts.DoneAfter == 0 {
			done = 1 << 40 // only the boot-finished file says done
		}
		if err := os.WriteFile(at, []byte(strconv.FormatInt(done, 10)+"\n"), 0o644); err != nil {
			t.Fatalf("fakek3s: %v", err)
		}
	}
	for _, n := range names {
		data, err := scripts.ReadFile("scripts/" + n)
		if err != nil {
			t.Fatalf("fakek3s: %v", err)
		}
		if err := os.WriteFile(filepath.Join(bin, n), data, 0o755); err != nil {
			t.Fatalf("fakek3s: %v", err)
		}
	}
	t.Cleanup(func() { killServices(h) })
}

// CloudInitDone makes the host's fake cloud-init report done, as the real
// one does once it wrote boot-finished.
func CloudInitDone(t testing.TB, h *testhost.Host) {
	t.Helper()
	if _, err := h.Exec(context.Background(), "mkdir -p /var/lib/cloud/instance && touch /var/lib/cloud/instance/boot-finished"); err != nil {
		t.Fatalf("fakek3s: %v", err)
	}
}

// killServices ends every process the fake systemctl started on the host:
// they were started with setsid and outlive the host's sshd.
func killServices(h *testhost.Host) {
	pids, _ := filepath.Glob(filepath.Join(h.Root(), StateDir, "*.pid"))
	for _, f := range pids {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 1 {
			continue
		}
		// The pid may have been reused since: kill only a process the fake
		// systemd started.
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && strings.Contains(string(env), "FAKE_SYSTEMD_READY="+StateDir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Log returns the log the fake systemd kept of unit on the host.
func Log(h *testhost.Host, unit string) string {
	data, _ := os.ReadFile(filepath.Join(h.Root(), StateDir, unit+".log"))
	return string(data)
}
