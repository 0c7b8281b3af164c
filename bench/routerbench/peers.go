package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// peerParams are what every peer's config is rendered from.
type peerParams struct {
	// Dir holds the config, the pid file, temp files and the log.
	Dir string
	// Backend is the backend's host:port.
	Backend string
	// Listen is the peer's own loopback host:port.
	Listen string
	// Port is Listen's port alone, for configs that want it apart.
	Port int
	// Host is the Host header the bench sends.
	Host string
	// Workers is the number of worker processes or threads: the number of
	// cores, the same CPU budget the router's Go runtime has (GOMAXPROCS).
	Workers int
}

// peerSpec is how to run one peer reverse proxy in the foreground as a child of
// the bench.
type peerSpec struct {
	name string
	// binaries are tried in order: a name looked up in PATH, or an absolute path.
	binaries []string
	// install says how to get the binary, for the error when it is missing.
	install string
	// config renders the config files: file name in Dir to contents.
	config func(peerParams) (map[string]string, error)
	// args is the command line after the binary.
	args func(p peerParams) []string
	// env is added to the bench's environment.
	env func(p peerParams) []string
	// version is the command line that prints the version.
	version []string
	// check tells whether a response really came through this peer.
	check func(*http.Response) error
}

// find returns the first of the spec's binaries that exists.
func (s *peerSpec) find() (string, error) {
	for _, b := range s.binaries {
		if filepath.IsAbs(b) {
			if fi, err := os.Stat(b); err == nil && !fi.IsDir() {
				return b, nil
			}
			continue
		}
		if p, err := exec.LookPath(b); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found; %s", s.name, s.install)
}

// versionString runs the binary's version command and returns its first line.
func (s *peerSpec) versionString() string {
	bin, err := s.find()
	if err != nil {
		return s.name + " (missing)"
	}
	out, _ := exec.Command(bin, s.version...).CombinedOutput()
	v := firstLine(string(out))
	// Caddy prints the bare version number.
	if !strings.Contains(strings.ToLower(v), s.name) {
		v = s.name + " " + v
	}
	return strings.TrimSpace(v)
}

// writeConfig renders the spec's config files into p.Dir.
func (s *peerSpec) writeConfig(p peerParams) error {
	files, err := s.config(p)
	if err != nil {
		return fmt.Errorf("render %s config: %w", s.name, err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(p.Dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s config: %w", s.name, err)
		}
	}
	return nil
}

// peerProc is a running peer: its main process, run in the foreground.
type peerProc struct {
	spec   *peerSpec
	cmd    *exec.Cmd
	addr   string
	logf   string        // its stdout and stderr
	exited chan struct{} // closed once the main process is reaped
}

// startPeer writes the spec's config into dir and starts the peer on a free
// loopback port, to proxy to backend. It returns once the peer answers a request
// with the backend's body.
func startPeer(ctx context.Context, s *peerSpec, dir, backend string, workers int) (*peerProc, error) {
	bin, err := s.find()
	if err != nil {
		return nil, err
	}
	// Not every peer can listen on port 0 and report the port, so take a free
	// one from the kernel; the short race with other tests is caught below.
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := peerParams{Dir: dir, Backend: backend, Port: port, Host: benchHost, Workers: workers,
		Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if err := s.writeConfig(p); err != nil {
		return nil, err
	}
	logf := filepath.Join(dir, s.name+".out")
	out, err := os.Create(logf)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, s.args(p)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if s.env != nil {
		cmd.Env = append(os.Environ(), s.env(p)...)
	}
	// If the bench dies without cleaning up, the kernel kills the peer.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	pp := &peerProc{spec: s, cmd: cmd, addr: p.Listen, logf: logf, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(pp.exited) }()
	if err := pp.waitReady(ctx, 15*time.Second); err != nil {
		pp.stop()
		return nil, err
	}
	return pp, nil
}

// waitReady polls the peer with a request until it answers with the backend's
// body: a port that accepts connections is not enough, since some peers load
// their routes after they listen.
func (pp *peerProc) waitReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	t := pp.target()
	var last error
	for {
		select {
		case <-pp.exited:
			return fmt.Errorf("%s exited at start: %s\n%s", pp.spec.name, pp.cmd.ProcessState, pp.logTail())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if last = verify(ctx, t); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %w\n%s", pp.spec.name, within, last, pp.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// target is the peer as a bench target.
func (pp *peerProc) target() *target {
	return &target{name: pp.spec.name, url: "http://" + pp.addr + "/", proxyPIDs: pp.pids(), check: pp.spec.check}
}

func (pp *peerProc) pid() int { return pp.cmd.Process.Pid }

// pids are the peer's main process and its children (nginx's workers).
func (pp *peerProc) pids() []int { return append([]int{pp.pid()}, childPIDs(pp.pid())...) }

// logTail is the end of the peer's output, for errors.
func (pp *peerProc) logTail() string {
	f, err := os.Open(pp.logf)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop asks the peer to shut down with SIGTERM, then kills it and any child left
// (nginx's workers), by pid, if that takes more than 5 s.
func (pp *peerProc) stop() {
	children := childPIDs(pp.pid())
	pp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pp.exited:
	case <-time.After(5 * time.Second):
		pp.cmd.Process.Kill()
		<-pp.exited
	}
	for _, pid := range children {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// memory sums the resident memory of the peer's processes.
func (pp *peerProc) memory() (memory, int) {
	var m memory
	pids := pp.pids()
	for _, pid := range pids {
		if r, err := readMemory(pid); err == nil {
			m.rss += r.rss
			m.peak += r.peak
		}
	}
	return m, len(pids)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// peerSpecs are the peers the bench knows, in the order they are reported.
func peerSpecs(traefikBin string) []*peerSpec {
	traefik := traefikSpec()
	if traefikBin != "" {
		traefik.binaries = slices.Insert(traefik.binaries, 0, traefikBin)
	}
	return []*peerSpec{nginxSpec(), haproxySpec(), caddySpec(), traefik}
}

// serverHeader returns a check that the Server header starts with prefix.
func serverHeader(name, prefix string) func(*http.Response) error {
	return func(res *http.Response) error {
		if !strings.HasPrefix(res.Header.Get("Server"), prefix) {
			return fmt.Errorf("server %q: not answered through %s", res.Header.Get("Server"), name)
		}
		return nil
	}
}

// forwarded checks that the backend saw the request come through a proxy: it
// echoes the X-Forwarded-For it got to the bench's verification request (see
// checkHeader). It is the check of the peers that add no header of their own.
func forwarded(res *http.Response) error {
	if res.Header.Get(seenForwardedHeader) == "" {
		return errors.New("the backend saw no X-Forwarded-For: not answered through a proxy")
	}
	return nil
}
