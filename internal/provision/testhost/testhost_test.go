package testhost

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHostServesSSHAndStops(t *testing.T) {
	h := New(t, Options{})
	ctx := context.Background()

	c, err := net.DialTimeout("tcp", h.Addr(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Addr(), err)
	}
	banner := make([]byte, 8)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(banner); err != nil || !strings.HasPrefix(string(banner), "SSH-2.0") {
		t.Fatalf("banner %q, err %v", banner, err)
	}
	c.Close()

	h.Stop()
	_, err = net.DialTimeout("tcp", h.Addr(), 2*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Stop: got %v, want connection refused", err)
	}
	h.Start()
	c, err = net.DialTimeout("tcp", h.Addr(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial after Start: %v", err)
	}
	c.Close()

	// Exec runs in the host's namespace: it sees its own address.
	out, err := h.Exec(ctx, "ip -4 -o addr show")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, h.IP()+"/30") {
		t.Fatalf("host addresses %q lack %s", out, h.IP())
	}
}

func TestHostPrivateDirs(t *testing.T) {
	a := New(t, Options{Stopped: true})
	b := New(t, Options{Stopped: true})
	ctx := context.Background()
	if _, err := a.Exec(ctx, "mkdir -p /usr/local/bin && echo a > /usr/local/bin/prosper-testhost-marker"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(a.Root(), "usr/local/bin/prosper-testhost-marker"))
	if err != nil || string(got) != "a\n" {
		t.Fatalf("host a's file in its root: %q, %v", got, err)
	}
	if _, err := os.Stat("/usr/local/bin/prosper-testhost-marker"); err == nil {
		t.Fatal("host a's file leaked onto the test machine")
	}
	if out, err := b.Exec(ctx, "test -e /usr/local/bin/prosper-testhost-marker && echo leaked || true"); err != nil || strings.Contains(out, "leaked") {
		t.Fatalf("host a's file visible on host b: %q, %v", out, err)
	}
}

func TestHostsReachEachOther(t *testing.T) {
	before, err := os.ReadFile(ipForward)
	if err != nil {
		t.Skipf("cannot read %s: %v", ipForward, err)
	}
	t.Run("hosts", func(t *testing.T) {
		a := New(t, Options{})
		b := New(t, Options{Stopped: true})
		// b reaches a's sshd over a's address, through the test machine.
		cmd := "timeout 5 bash -c 'exec 3<>/dev/tcp/" + a.IP() + "/22; head -c 7 <&3'"
		out, err := b.Exec(context.Background(), cmd)
		if err != nil || out != "SSH-2.0" {
			t.Fatalf("host b to host a's sshd: %q, %v", out, err)
		}
		if got, _ := os.ReadFile(ipForward); strings.TrimSpace(string(got)) != "1" {
			t.Fatalf("ip_forward is %q while hosts exist", got)
		}
	})
	// The original setting is back once the last host is gone, unless a
	// test process of another package still has hosts.
	others := false
	_ = withStateLock(func() error {
		others = len(liveUsers()) > 0
		return nil
	})
	if got, _ := os.ReadFile(ipForward); !others && string(before) == "0\n" && string(got) != "0\n" {
		t.Fatalf("ip_forward is %q after the last host, was %q", got, before)
	}
}
