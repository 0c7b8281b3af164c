package sshx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHosts is a known_hosts file that prosper keeps per cluster. A host
// seen for the first time is trusted and recorded; a host that later
// presents another key is refused with a HostKeyMismatchError.
type KnownHosts struct {
	path string
	mu   sync.Mutex
}

// NewKnownHosts uses the file at path, creating it (and its directory) when
// missing.
func NewKnownHosts(path string) (*KnownHosts, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	f.Close()
	return &KnownHosts{path: path}, nil
}

// Path is the file's location.
func (k *KnownHosts) Path() string { return k.path }

// HostKeyMismatchError says a host presented a key other than the one
// recorded for it: the machine was reinstalled, or someone is in the middle.
type HostKeyMismatchError struct {
	Addr      string
	Presented ssh.PublicKey
	Known     []string // fingerprints on record
	File      string
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key mismatch for %s: it presented %s but %s records %v; "+
		"if the machine was reinstalled, remove its line from that file",
		e.Addr, ssh.FingerprintSHA256(e.Presented), e.File, e.Known)
}

// Is makes errors.Is(err, ErrHostKeyMismatch) true.
func (e *HostKeyMismatchError) Is(target error) bool { return target == ErrHostKeyMismatch }

// Callback verifies hosts against the file, recording unknown ones.
func (k *KnownHosts) Callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		// Reread each time so that hosts recorded since (by this or
		// another KnownHosts on the same file) count.
		check, err := knownhosts.New(k.path)
		if err != nil {
			return fmt.Errorf("known hosts: %w", err)
		}
		err = check(hostname, remote, key)
		var keyErr *knownhosts.KeyError
		if err == nil || !errors.As(err, &keyErr) {
			return err
		}
		if len(keyErr.Want) > 0 {
			known := make([]string, len(keyErr.Want))
			for i, w := range keyErr.Want {
				known[i] = ssh.FingerprintSHA256(w.Key)
			}
			return &HostKeyMismatchError{Addr: hostname, Presented: key, Known: known, File: k.path}
		}
		return k.add(hostname, key)
	}
}

func (k *KnownHosts) add(hostname string, key ssh.PublicKey) error {
	f, err := os.OpenFile(k.path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
	if _, err := fmt.Fprintln(f, line); err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	return nil
}

// Forget removes what the file records for the host at addr (host:port), for a
// machine that was deleted: a provider may give its address to a new machine,
// whose new key must then not look like an attack.
func (k *KnownHosts) Forget(addr string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	name := knownhosts.Normalize(addr)
	var kept []string
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && slices.Contains(strings.Split(f[0], ","), name) {
			continue
		}
		if line != "" {
			kept = append(kept, line)
		}
	}
	out := strings.Join(kept, "\n")
	if out != "" {
		out += "\n"
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o600); err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	return os.Rename(tmp, k.path)
}
