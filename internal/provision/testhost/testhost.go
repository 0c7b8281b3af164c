// Package testhost gives tests real SSH hosts: each Host is a network
// namespace on the test machine, reachable over a veth pair, running a real
// OpenSSH server that accepts the keys the test authorizes. Provisioning code
// then logs in, uploads and runs commands exactly as it would on a cloud
// server, and its failures (refused connections, wrong keys, changed host
// keys) are real failures.
//
// A namespace isolates the network only, so each host also gets private
// copies of the directories an installer writes to (see PrivateDirs): sshd and
// every command run inside see a bind mount of a per-host directory there,
// which keeps a fake k3s installed on one host off the test machine and off
// the other hosts.
//
// Hosts reach each other through the test machine, which routes between
// their veth pairs (IPv4 forwarding is on while any host exists), so a k3s
// agent on one host can join a server on another at its address.
package testhost

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// PrivateDirs are the directories each host sees as its own. Commands run on
// the host (over SSH or with Exec) read and write Host.Root()+dir instead of
// the test machine's dir. /root is among them so that root logs in to an
// empty home, as on a fresh server, and not to the test machine's shell
// start-up files.
// /etc/systemd/system, /var/lib/prosper and /var/lib/cloud are there so that
// an installer writing a unit file, prosper's marker or cloud-init's state on
// a host never touches the test machine's.
var PrivateDirs = []string{"/root", "/usr/local", "/opt", "/etc/rancher", "/var/lib/rancher",
	"/etc/systemd/system", "/var/lib/prosper", "/var/lib/cloud"}

// Options tune a Host. The zero value is a usable default.
type Options struct {
	// Port is the port sshd listens on inside the namespace; 0 means 22.
	Port int
	// Stopped creates the host without starting sshd, for tests that start
	// it later with Start.
	Stopped bool
}

// Host is one SSH-reachable test machine. Its methods are safe for
// concurrent use.
type Host struct {
	t       testing.TB
	ns      string
	vethOut string
	addr    string
	dir     string
	root    string
	config  string
	authKey string

	mu     sync.Mutex
	sshd   *exec.Cmd
	exited chan struct{}
	hostPK ssh.PublicKey
	closed bool // the test is over: StartAfter must not start sshd
}

// New creates a host and registers its teardown with t.Cleanup. It skips the
// test, saying why, when the machine cannot run one (not root, no ip, sshd,
// or unshare binary).
func New(t testing.TB, opts Options) *Host {
	t.Helper()
	if reason := unsupported(); reason != "" {
		t.Skip("testhost: " + reason)
	}
	port := opts.Port
	if port == 0 {
		port = 22
	}
	id := randHex(4)
	h := &Host{
		t:       t,
		ns:      "prosper-" + id,
		vethOut: "pv" + id + "o",
		dir:     t.TempDir(),
	}
	h.root = filepath.Join(h.dir, "root")
	h.config = filepath.Join(h.dir, "sshd_config")
	h.authKey = filepath.Join(h.dir, "authorized_keys")

	_, inIP, err := h.createNetwork()
	t.Cleanup(h.deleteNetwork)
	if err != nil {
		t.Fatalf("testhost: %v", err)
	}
	h.addr = net.JoinHostPort(inIP, fmt.Sprint(port))
	release, err := acquireForwarding()
	if err != nil {
		t.Fatalf("testhost: %v", err)
	}
	t.Cleanup(release)

	for _, d := range PrivateDirs {
		if err := os.MkdirAll(filepath.Join(h.root, d), 0o755); err != nil {
			t.Fatalf("testhost: %v", err)
		}
		// The mount point must exist on the test machine too; creating an
		// empty directory there is the only trace a host leaves.
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testhost: %v", err)
		}
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	if err := os.WriteFile(h.authKey, nil, 0o600); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	if err := h.writeHostKey(); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	if err := h.writeConfig(inIP, port); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	t.Cleanup(func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		h.Stop()
	})
	if !opts.Stopped {
		h.Start()
	}
	return h
}

// unsupported says why this machine cannot run test hosts, or "" when it can.
func unsupported() string {
	if os.Geteuid() != 0 {
		return "needs root to create network namespaces"
	}
	for _, bin := range []string{"ip", "unshare", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "needs the " + bin + " command"
		}
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		return "needs /usr/sbin/sshd (apt-get install openssh-server)"
	}
	return ""
}

// Addr is the host's SSH address (ip:port), reachable from the test.
func (h *Host) Addr() string { return h.addr }

// IP is the host's address without the port.
func (h *Host) IP() string {
	ip, _, _ := net.SplitHostPort(h.addr)
	return ip
}

// Namespace is the name of the host's network namespace.
func (h *Host) Namespace() string { return h.ns }

// Root is the directory that holds the host's private copies of PrivateDirs:
// Root()+"/usr/local/bin/k3s" is /usr/local/bin/k3s on the host.
func (h *Host) Root() string { return h.root }

// HostKey is the public key sshd currently presents.
func (h *Host) HostKey() ssh.PublicKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hostPK
}

// Authorize lets the holder of the private key for authorizedKey (an
// authorized_keys line) log in as root. It takes effect on the next login.
func (h *Host) Authorize(authorizedKey string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(h.authKey, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatalf("testhost: authorize: %v", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, strings.TrimSpace(authorizedKey)); err != nil {
		h.t.Fatalf("testhost: authorize: %v", err)
	}
}

// Exec runs a shell command as root on the host (in its network namespace,
// with its private directories) and returns its combined output.
func (h *Host) Exec(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", h.inside("sh", "-c", command)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("exec on %s: %q: %w: %s", h.ns, command, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// inside is the argument list for ip that runs argv inside the host: in its
// namespace, with its private directories bound over the machine's.
func (h *Host) inside(argv ...string) []string {
	var script strings.Builder
	script.WriteString("set -e; ")
	for _, d := range PrivateDirs {
		fmt.Fprintf(&script, "mount --bind %s %s; ", quote(filepath.Join(h.root, d)), quote(d))
	}
	script.WriteString(`exec "$@"`)
	args := []string{"netns", "exec", h.ns, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", script.String(), "sh"}
	return append(args, argv...)
}

// quote single-quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeHostKey gives the host a new ed25519 host key.
func (h *Host) writeHostKey() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "ssh_host_ed25519_key"), pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	h.mu.Lock()
	h.hostPK = sshPub
	h.mu.Unlock()
	return nil
}

func (h *Host) writeConfig(ip string, port int) error {
	cfg := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
AuthorizedKeysFile %s .ssh/authorized_keys
PidFile %s
PermitRootLogin prohibit-password
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
`, port, ip, filepath.Join(h.dir, "ssh_host_ed25519_key"), h.authKey, filepath.Join(h.dir, "sshd.pid"))
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("sshd config: %w", err)
	}
	return nil
}

// waitListening polls until sshd accepts TCP connections or the deadline
// passes.
func (h *Host) waitListening(exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", h.addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("sshd exited before listening on %s", h.addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd not listening on %s after 10s: %w", h.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
