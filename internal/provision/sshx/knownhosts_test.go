package sshx

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKnownHostsTrustOnFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster", "known_hosts")
	kh, err := NewKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, first, _ := GenerateKey("")
	_, _, second, _ := GenerateKey("")
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 22}
	cb := kh.Callback()

	if err := cb("10.0.0.5:22", remote, first.PublicKey()); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := cb("10.0.0.5:22", remote, first.PublicKey()); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	if err := cb("10.0.0.5:22", remote, second.PublicKey()); !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("changed key: %v, want mismatch", err)
	}
	// A second KnownHosts on the same file (a later prosper run) agrees.
	again, _ := NewKnownHosts(path)
	if err := again.Callback()("10.0.0.5:22", remote, second.PublicKey()); !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("changed key, new reader: %v, want mismatch", err)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Fatalf("known_hosts has %d lines, want 1:\n%s", n, data)
	}
}

func TestGenerateKeyRoundTrip(t *testing.T) {
	pemBytes, line, signer, err := GenerateKey("cluster-a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "ssh-ed25519 ") || !strings.HasSuffix(line, " cluster-a") {
		t.Fatalf("authorized_keys line %q", line)
	}
	parsed, err := ParseKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if string(parsed.PublicKey().Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Fatal("parsed key differs from the generated one")
	}
}

func TestKnownHostsForget(t *testing.T) {
	kh, err := NewKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, old, _ := GenerateKey("")
	_, _, replaced, _ := GenerateKey("")
	_, _, other, _ := GenerateKey("")
	cb := kh.Callback()
	a := &net.TCPAddr{IP: net.IPv4(198, 19, 0, 6), Port: 22}
	b := &net.TCPAddr{IP: net.IPv4(198, 19, 0, 10), Port: 22}
	if err := cb("198.19.0.6:22", a, old.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := cb("198.19.0.10:22", b, other.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := kh.Forget("198.19.0.6:22"); err != nil {
		t.Fatal(err)
	}
	// The address went to a new machine: its key is trusted anew.
	if err := cb("198.19.0.6:22", a, replaced.PublicKey()); err != nil {
		t.Fatalf("new machine at a forgotten address: %v", err)
	}
	// The other host is still pinned.
	if err := cb("198.19.0.10:22", b, replaced.PublicKey()); !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("other host: %v, want mismatch", err)
	}
}
