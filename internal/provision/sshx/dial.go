// Package sshx is the SSH client prosper provisions hosts with: dialing with
// errors a person can act on, waiting for a booting host, running commands,
// uploading files with a checksum check, generating keys, and trusting host
// keys on first use.
package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Sentinels that classify why a connection failed; test with errors.Is.
var (
	ErrConnectionRefused = errors.New("connection refused")
	ErrNoRoute           = errors.New("no route to host")
	ErrTimeout           = errors.New("timed out")
	ErrAuthFailed        = errors.New("authentication failed")
	ErrHostKeyMismatch   = errors.New("host key mismatch")
)

// Config says where and as whom to log in.
type Config struct {
	// Addr is host:port; a bare host means port 22.
	Addr string
	// User defaults to root.
	User   string
	Signer ssh.Signer
	// HostKeyCallback verifies the server; KnownHosts.Callback gives trust
	// on first use. It is required: prosper never logs in blind.
	HostKeyCallback ssh.HostKeyCallback
	// Timeout bounds connecting and the SSH handshake; 0 means 10s.
	Timeout time.Duration
}

// Client is one SSH connection. It is safe for concurrent use; each Run and
// Upload opens its own session.
type Client struct {
	addr string
	conn *ssh.Client
}

// Dial connects and logs in. Its errors wrap one of the package's sentinels
// when the cause is known, and say in words what happened.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Signer == nil || cfg.HostKeyCallback == nil {
		return nil, errors.New("ssh dial: a signer and a host key callback are required")
	}
	addr := cfg.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	user := cfg.User
	if user == "" {
		user = "root"
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, classifyNetErr(addr, err)
	}
	// The handshake does not take a context; closing the connection when
	// ctx ends is what bounds it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sshCfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		HostKeyCallback: cfg.HostKeyCallback,
		Timeout:         timeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ssh handshake with %s: %w after %s", addr, ErrTimeout, timeout)
		}
		return nil, classifyHandshakeErr(addr, user, cfg.Signer, err)
	}
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("ssh handshake with %s: %w after %s", addr, ErrTimeout, timeout)
	}
	return &Client{addr: addr, conn: ssh.NewClient(c, chans, reqs)}, nil
}

// Addr is the address the client is connected to.
func (c *Client) Addr() string { return c.addr }

// Close ends the connection and every session on it.
func (c *Client) Close() error { return c.conn.Close() }

func classifyNetErr(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w by %s (is sshd running?)", ErrConnectionRefused, addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%w %s (check the address and the network)", ErrNoRoute, addr)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("connecting to %s %w (a firewall may be dropping packets)", addr, ErrTimeout)
	}
	return fmt.Errorf("connect to %s: %w", addr, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func classifyHandshakeErr(addr, user string, signer ssh.Signer, err error) error {
	var mismatch *HostKeyMismatchError
	switch {
	case errors.As(err, &mismatch):
		return err
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("%w: the key %s was not accepted for %s@%s (is it in the user's authorized_keys?)",
			ErrAuthFailed, ssh.FingerprintSHA256(signer.PublicKey()), user, addr)
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(err.Error(), "EOF"):
		// sshd accepts TCP before it is ready to talk, and closes early
		// while a host is still booting.
		return fmt.Errorf("ssh handshake with %s: connection closed by the server: %w", addr, err)
	}
	return fmt.Errorf("ssh handshake with %s: %w", addr, err)
}
