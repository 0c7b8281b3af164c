package testhost

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Listen opens a TCP listener at addr inside the host's network namespace,
// for a server the test runs in its own process as if it ran on the host: a
// listener on "127.0.0.1:30500" is the host's loopback port, which only the
// host (and an SSH port forward through it) reaches. The listener is closed
// when the test ends.
func (h *Host) Listen(addr string) net.Listener {
	h.t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	// A socket belongs to the namespace of the thread that made it: make it
	// on a thread switched into the host's namespace. If the switch back
	// fails, the goroutine ends still locked and Go discards the thread.
	go func() {
		runtime.LockOSThread()
		l, err := listenIn(filepath.Join("/run/netns", h.ns), addr)
		if err == errRestore {
			ch <- result{nil, err}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		h.t.Fatalf("testhost: listen on %s in %s: %v", addr, h.ns, r.err)
	}
	h.t.Cleanup(func() { r.l.Close() })
	return r.l
}

var errRestore = fmt.Errorf("cannot switch the thread back to the test's network namespace")

// listenIn listens at addr in the network namespace at nsPath, on the
// calling thread, which it leaves in its original namespace unless it
// returns errRestore.
func listenIn(nsPath, addr string) (net.Listener, error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter %s: %w", nsPath, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		if l != nil {
			l.Close()
		}
		return nil, errRestore
	}
	return l, lerr
}
