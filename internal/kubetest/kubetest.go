// Package kubetest runs a real etcd and kube-apiserver for tests, from the binaries
// that scripts/kube-testbed builds (kube-apiserver) and Debian's etcd-server package
// (etcd). Nothing is faked: requests go through the API server's real validation,
// admission and storage.
//
// Starting a server takes a few seconds, so a package should start one per test
// function and run its cases as subtests of it.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// KubeVersion is the Kubernetes release scripts/kube-testbed builds; it names the
// default directory of the binaries.
const KubeVersion = "v1.34.4"

// Environment variables the harness reads.
const (
	// EnvKubeDir overrides the testbed directory; the binaries are in its bin/.
	EnvKubeDir = "PROSPER_KUBE_DIR"
	// EnvRequireKube makes a missing binary fail the test instead of skipping it,
	// so that CI cannot pass by skipping.
	EnvRequireKube = "PROSPER_REQUIRE_KUBE"
)

// readyTimeout bounds the wait for /readyz; kube-apiserver on a busy 2-core machine
// takes 5-15 s.
const readyTimeout = 90 * time.Second

// APIServer is a running kube-apiserver backed by its own etcd.
type APIServer struct {
	// Config reaches the server as a member of system:masters.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same credentials, for
	// tools that take one.
	Kubeconfig string
	// Dir holds the server's files: etcd data, keys, logs.
	Dir string

	proc *process
}

// Freeze makes the API server unreachable the way a network partition does:
// its process is stopped (SIGSTOP), so connections hang rather than fail
// fast, until thaw is called (also at the test's end).
func (s *APIServer) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	pid := s.proc.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("kubetest: freeze the API server: %v", err)
	}
	var once sync.Once
	thaw = func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }
	t.Cleanup(thaw)
	return thaw
}

// BinDir is the directory holding the testbed's Kubernetes binaries: $PROSPER_KUBE_DIR/bin,
// or the default that "scripts/kube-testbed dir" prints.
func BinDir() string {
	if d := os.Getenv(EnvKubeDir); d != "" {
		return filepath.Join(d, "bin")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "prosper", "kube-"+KubeVersion, "bin")
}

// Start runs etcd and kube-apiserver on free loopback ports and returns once the
// API server reports ready. Both are stopped, by PID, when the test ends. When a
// binary is missing the test is skipped with the command that builds it, unless
// PROSPER_REQUIRE_KUBE=1, in which case it fails.
func Start(t testing.TB) *APIServer {
	t.Helper()
	return start(t, "127.0.0.1")
}

// start is Start with the API server listening on, and advertising, addr:
// a node's pods reach the API server through the kubernetes Service, whose
// endpoint is the advertised address, which loopback would not be for them.
func start(t testing.TB, addr string) *APIServer {
	t.Helper()
	apiserverBin := filepath.Join(BinDir(), "kube-apiserver")
	etcdBin, etcdErr := findEtcd()
	var missing []string
	if _, err := os.Stat(apiserverBin); err != nil {
		missing = append(missing, apiserverBin+" (run scripts/kube-testbed build)")
	}
	if etcdErr != nil {
		missing = append(missing, "etcd (apt-get install etcd-server, or run scripts/kube-testbed build)")
	}
	if len(missing) > 0 {
		msg := "kubetest: missing " + strings.Join(missing, " and ")
		if os.Getenv(EnvRequireKube) == "1" {
			t.Fatal(msg + "; " + EnvRequireKube + "=1 forbids skipping")
		}
		t.Skip(msg)
	}

	dir := t.TempDir()
	etcdURL, err := startEtcd(t, etcdBin, dir)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	s, err := startAPIServer(t, apiserverBin, dir, etcdURL, addr)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return s
}

func findEtcd() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("etcd not found")
}

// process is a child started by the harness, with its log for error messages.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// run starts a child whose output goes to dir/name.log and registers its stop,
// by PID, with the test's cleanup.
func run(t testing.TB, dir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that a Ctrl-C of "go test" does not race our stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop() })
	return p, nil
}

// stop sends SIGTERM to the child's PID, then SIGKILL if it has not exited in 10 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tail returns the end of the child's log, for an error message.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. Another process may take it
// before ours binds it; the servers then fail to start with a clear log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd(t testing.TB, bin, dir string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := run(t, dir, "etcd", bin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubetest="+peer,
		"--unsafe-no-fsync", // test data; saves seconds on a busy disk
	)
	if err != nil {
		return "", err
	}
	err = poll(p, 30*time.Second, func() bool {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return "", err
	}
	return client, nil
}

func startAPIServer(t testing.TB, bin, dir, etcdURL, addr string) (*APIServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	if err := writeServiceAccountKey(keyFile); err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write token file: %w", err)
	}
	p, err := run(t, dir, "kube-apiserver", bin,
		"--etcd-servers="+etcdURL,
		"--bind-address="+addr,
		"--advertise-address="+addr,
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-key-file="+keyFile,
		"--service-account-signing-key-file="+keyFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		// Logs and exec go to the kubelet by the node's address: its name
		// resolves nowhere.
		"--kubelet-preferred-address-types=InternalIP",
		// The benchmarking range: never a private range, even for virtual IPs.
		"--service-cluster-ip-range=198.19.0.0/24",
	)
	if err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		Host:        "https://" + net.JoinHostPort(addr, strconv.Itoa(port)),
		BearerToken: token,
		// The serving certificate is self-signed for this run; the connection
		// never leaves loopback.
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             100,
		Burst:           200,
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	err = poll(p, readyTimeout, func() bool {
		resp, err := httpClient.Get(cfg.Host + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(kubeconfigFor(cfg.Host, token)), 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return &APIServer{Config: cfg, Kubeconfig: kubeconfig, Dir: dir, proc: p}, nil
}

// poll calls ready every 100 ms until it returns true, the child exits or the
// deadline passes; the errors carry the end of the child's log.
func poll(p *process, timeout time.Duration, ready func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s:\n%s", p.name, timeout, p.tail())
		case <-tick.C:
		}
	}
}

func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("write service account key: %w", err)
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func kubeconfigFor(host, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubetest
  context: {cluster: kubetest, user: admin}
current-context: kubetest
`, host, token)
}
