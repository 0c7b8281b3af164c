// Package sshhosts is the "ssh" provider: the machines already exist (bring
// your own hosts, such as KVM VMs or bare metal) and are reachable over SSH
// with the user's key. "Creating" a machine means logging in, checking that no
// other cluster uses it, authorizing the cluster's key and marking the host as
// the cluster's; deleting one means uninstalling k3s and removing the key and
// the mark. A host marked by another cluster is never touched.
package sshhosts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// Options configure the provider.
type Options struct {
	// HostKeys checks the hosts' keys (trust on first use, then pinned). When
	// nil, KnownHostsPath is opened; one of them is required.
	HostKeys       *sshx.KnownHosts
	KnownHostsPath string
	// Signer logs in instead of spec.provider.ssh.identityFile or the SSH
	// agent; tests set it.
	Signer ssh.Signer
	// Backoff bounds Ensure's wait for each host's SSH; zero fields take
	// sshx's defaults.
	Backoff sshx.Backoff
	// Timeout is the time one login may take (Plan, Machines, Remove,
	// Delete); 0 means 10s.
	Timeout time.Duration
}

// Provider is the "ssh" provider. It is safe for concurrent use.
type Provider struct {
	opts Options

	mu    sync.Mutex
	hosts *sshx.KnownHosts
}

var _ provision.Provider = (*Provider)(nil)

// New returns the provider.
func New(opts Options) *Provider {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Provider{opts: opts, hosts: opts.HostKeys}
}

// Name is "ssh".
func (p *Provider) Name() string { return "ssh" }

// settings returns the ssh section of the cluster file, with defaults.
func settings(c clusterfile.Cluster) (clusterfile.SSH, error) {
	if c.Spec.Provider.SSH == nil {
		return clusterfile.SSH{}, errors.New("ssh provider: the cluster file has no spec.provider.ssh")
	}
	s := *c.Spec.Provider.SSH
	if s.User == "" {
		s.User = clusterfile.DefaultSSHUser
	}
	if s.Port == 0 {
		s.Port = clusterfile.DefaultSSHPort
	}
	return s, nil
}

// login is how to reach the hosts of a cluster.
type login struct {
	user    string
	port    int
	signers []ssh.Signer
	hostKey ssh.HostKeyCallback
}

func (l login) addr(host string) string { return net.JoinHostPort(host, strconv.Itoa(l.port)) }

// login resolves the user's key (the override, the identity file or the
// agent's keys) and the host key check.
func (p *Provider) login(c clusterfile.Cluster) (login, error) {
	s, err := settings(c)
	if err != nil {
		return login{}, err
	}
	l := login{user: s.User, port: s.Port}
	p.mu.Lock()
	if p.hosts == nil {
		if p.opts.KnownHostsPath == "" {
			p.mu.Unlock()
			return login{}, errors.New("ssh provider: no known_hosts file to check the hosts' keys against")
		}
		if p.hosts, err = sshx.NewKnownHosts(p.opts.KnownHostsPath); err != nil {
			p.mu.Unlock()
			return login{}, err
		}
	}
	l.hostKey = p.hosts.Callback()
	p.mu.Unlock()
	switch {
	case p.opts.Signer != nil:
		l.signers = []ssh.Signer{p.opts.Signer}
	case s.IdentityFile != "":
		signer, err := readIdentity(s.IdentityFile)
		if err != nil {
			return login{}, err
		}
		l.signers = []ssh.Signer{signer}
	default:
		if l.signers, err = agentSigners(); err != nil {
			return login{}, err
		}
	}
	return l, nil
}

// readIdentity reads a private key file, "~" meaning the user's home.
func readIdentity(path string) (ssh.Signer, error) {
	if rest, ok := strings.CutPrefix(path, "~/"); ok || path == "~" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", path, err)
		}
		path = filepath.Join(home, rest)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("identity file %s is protected by a passphrase: add it to the SSH agent (ssh-add %s) and remove identityFile from the cluster file", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return signer, nil
}

// agentSigners are the keys of the SSH agent at SSH_AUTH_SOCK.
func agentSigners() ([]ssh.Signer, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("ssh provider: no identityFile in spec.provider.ssh and no SSH agent (SSH_AUTH_SOCK is empty)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("ssh agent at %s: %w", sock, err)
	}
	// The connection stays open: the signers sign through it.
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh agent at %s: %w", sock, err)
	}
	if len(signers) == 0 {
		conn.Close()
		return nil, fmt.Errorf("the SSH agent at %s holds no key (ssh-add one)", sock)
	}
	return signers, nil
}

// dial logs in to host once, trying each of the user's keys.
func (p *Provider) dial(ctx context.Context, l login, host string) (*sshx.Client, error) {
	var err error
	for _, s := range l.signers {
		var c *sshx.Client
		c, err = sshx.Dial(ctx, p.config(l, host, s))
		if err == nil || !errors.Is(err, sshx.ErrAuthFailed) {
			return c, err
		}
	}
	return nil, err
}

// wait logs in to host, waiting with back-off while it boots or its sshd is
// down.
func (p *Provider) wait(ctx context.Context, l login, host string) (*sshx.Client, error) {
	if len(l.signers) == 1 {
		return sshx.WaitForSSH(ctx, p.config(l, host, l.signers[0]), p.opts.Backoff)
	}
	// With several agent keys, find the accepted one once the host answers.
	c, err := sshx.WaitForSSH(ctx, p.config(l, host, l.signers[0]), p.opts.Backoff)
	if errors.Is(err, sshx.ErrAuthFailed) {
		return p.dial(ctx, l, host)
	}
	return c, err
}

func (p *Provider) config(l login, host string, s ssh.Signer) sshx.Config {
	return sshx.Config{Addr: l.addr(host), User: l.user, Signer: s, HostKeyCallback: l.hostKey, Timeout: p.opts.Timeout}
}

// report writes a node's progress when there is someone to tell.
func report(p *provision.Progress, node, format string, args ...any) {
	if p != nil {
		p.Node(node, format, args...)
	}
}

// each runs fn for every host at once and joins the failures, each naming
// its host.
func each(ctx context.Context, hosts []string, fn func(ctx context.Context, i int, host string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Go(func() {
			if err := fn(ctx, i, h); err != nil {
				errs[i] = fmt.Errorf("host %s: %w", h, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
