package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Run runs a shell command on the host. A command that ran and exited
// non-zero is not an error: exit says how it ended. err is for failures to
// run it at all, a lost connection, or ctx ending, in which case the remote
// command is killed.
func (c *Client) Run(ctx context.Context, cmd string) (stdout, stderr string, exit int, err error) {
	var out, errOut bytes.Buffer
	exit, err = c.run(ctx, cmd, nil, &out, &errOut)
	return out.String(), errOut.String(), exit, err
}

// Output runs cmd and returns its stdout; a non-zero exit is an error that
// carries the command's stderr.
func (c *Client) Output(ctx context.Context, cmd string) (string, error) {
	stdout, stderr, exit, err := c.Run(ctx, cmd)
	if err != nil {
		return stdout, err
	}
	if exit != 0 {
		return stdout, fmt.Errorf("run %q on %s: exit status %d: %s", cmd, c.addr, exit, strings.TrimSpace(stderr))
	}
	return stdout, nil
}

func (c *Client) run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("run %q on %s: %w", cmd, c.addr, err)
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return -1, fmt.Errorf("run %q on %s: open session: %w", cmd, c.addr, err)
	}
	defer s.Close()
	// sshd makes the command's shell a session leader, so its PID names the
	// process group to kill on cancel. The shell reports it as the first
	// line of stderr, which pidFilter takes off again. SSH signal requests
	// would be simpler, but sshd refuses them for root logins.
	pid := &pidFilter{next: stderr}
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, pid
	if err := s.Start("echo $$ >&2 && exec /bin/sh -c " + quote(cmd)); err != nil {
		return -1, fmt.Errorf("run %q on %s: %w", cmd, c.addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.kill(pid.get())
		s.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return -1, fmt.Errorf("run %q on %s: %w", cmd, c.addr, ctx.Err())
	}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitStatus(), nil
	}
	return -1, fmt.Errorf("run %q on %s: %w", cmd, c.addr, err)
}

// kill ends a cancelled command's process group, on a session of its own.
func (c *Client) kill(pid int) {
	if pid <= 0 {
		return
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		_ = s.Run(fmt.Sprintf("kill -KILL -- -%d", pid))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// pidFilter passes stderr through minus its first line, which it parses as
// the remote shell's PID.
type pidFilter struct {
	next io.Writer
	mu   sync.Mutex
	head []byte
	pid  int
	done bool
}

func (f *pidFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return writeTo(f.next, p)
	}
	f.head = append(f.head, p...)
	line, rest, found := bytes.Cut(f.head, []byte("\n"))
	if !found {
		f.mu.Unlock()
		return len(p), nil
	}
	f.pid, _ = strconv.Atoi(string(line))
	f.done = true
	f.head = nil
	f.mu.Unlock()
	if _, err := writeTo(f.next, rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *pidFilter) get() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid
}

func writeTo(w io.Writer, p []byte) (int, error) {
	if w == nil || len(p) == 0 {
		return len(p), nil
	}
	return w.Write(p)
}

// Upload writes r to path on the host with the given mode. It streams to a
// temporary file beside path, compares the SHA-256 of what landed with what
// was sent, and only then renames it into place, so path never holds a
// partial or corrupt file.
func (c *Client) Upload(ctx context.Context, r io.Reader, dst string, mode os.FileMode) error {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tmp := dst + ".prosper-upload-" + hex.EncodeToString(suffix)
	sum := sha256.New()
	var out, errOut bytes.Buffer
	script := fmt.Sprintf("set -e; umask 077; mkdir -p %s; cat > %s; chmod %o %s; sha256sum %s",
		quote(path.Dir(dst)), quote(tmp), mode.Perm(), quote(tmp), quote(tmp))
	exit, err := c.run(ctx, script, io.TeeReader(r, sum), &out, &errOut)
	if err == nil && exit != 0 {
		err = fmt.Errorf("exit status %d: %s", exit, strings.TrimSpace(errOut.String()))
	}
	if err == nil {
		want := hex.EncodeToString(sum.Sum(nil))
		got, _, _ := strings.Cut(strings.TrimSpace(out.String()), " ")
		if got != want {
			err = fmt.Errorf("checksum mismatch: sent sha256 %s, the host has %s", want, got)
		}
	}
	if err == nil {
		_, err = c.Output(ctx, fmt.Sprintf("mv -fT %s %s", quote(tmp), quote(dst)))
	}
	if err != nil {
		// Best effort, and not bound to ctx, which may be what ended.
		cleanup, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, _, _ = c.Run(cleanup, "rm -f "+quote(tmp))
		return fmt.Errorf("upload %s to %s: %w", dst, c.addr, err)
	}
	return nil
}

// quote single-quotes s for a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
