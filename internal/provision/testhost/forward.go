package testhost

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Hosts reach each other (a k3s agent joins the first server over its
// address) through the test machine, which routes between the veth pairs:
// IPv4 forwarding must be on. It is turned on with the first host and the
// machine's original setting is restored when the last host of the last test
// process is gone. Test binaries of several packages run at once, so the count
// of users is kept across processes: one file per process in stateDir, under
// an flock, and the original value in stateDir/ip_forward.orig. A process that
// died without cleaning up is recognised by its pid no longer running.
const (
	ipForward = "/proc/sys/net/ipv4/ip_forward"
	stateDir  = "/run/prosper-testhost"
)

var (
	fwdMu    sync.Mutex
	fwdUsers int // hosts of this process that need forwarding
)

// acquireForwarding turns forwarding on for one more host of this process and
// returns the function that gives it back.
func acquireForwarding() (release func(), err error) {
	fwdMu.Lock()
	defer fwdMu.Unlock()
	if fwdUsers == 0 {
		if err := withStateLock(registerProcess); err != nil {
			return nil, fmt.Errorf("enable ip forwarding: %w", err)
		}
	}
	fwdUsers++
	var once sync.Once
	return func() {
		once.Do(func() {
			fwdMu.Lock()
			defer fwdMu.Unlock()
			fwdUsers--
			if fwdUsers == 0 {
				_ = withStateLock(unregisterProcess)
			}
		})
	}, nil
}

// withStateLock runs fn holding the machine-wide lock on stateDir.
func withStateLock(fn func() error) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}

func pidFile() string { return filepath.Join(stateDir, "user."+strconv.Itoa(os.Getpid())) }

// registerProcess records this process as a user and, as the first one,
// saves the original setting and turns forwarding on.
func registerProcess() error {
	if len(liveUsers()) == 0 {
		cur, err := os.ReadFile(ipForward)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(stateDir, "ip_forward.orig"), cur, 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(pidFile(), nil, 0o600); err != nil {
		return err
	}
	return os.WriteFile(ipForward, []byte("1\n"), 0o644)
}

// unregisterProcess removes this process's record and, as the last user,
// restores the original setting.
func unregisterProcess() error {
	_ = os.Remove(pidFile())
	if len(liveUsers()) > 0 {
		return nil
	}
	orig := filepath.Join(stateDir, "ip_forward.orig")
	v, err := os.ReadFile(orig)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ipForward, v, 0o644); err != nil {
		return err
	}
	return os.Remove(orig)
}

// liveUsers lists the pids of processes registered as users that still run,
// removing the records of those that died.
func liveUsers() []int {
	entries, _ := os.ReadDir(stateDir)
	var pids []int
	for _, e := range entries {
		s, ok := strings.CutPrefix(e.Name(), "user.")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
			_ = os.Remove(filepath.Join(stateDir, e.Name()))
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
