package testhost

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Start runs sshd on the host and waits until it accepts connections. It
// does nothing when sshd is already running.
func (h *Host) Start() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sshd != nil {
		return
	}
	if err := h.spawn(); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	if err := h.waitListening(h.exited); err != nil {
		logText, _ := os.ReadFile(h.LogPath())
		h.t.Fatalf("testhost: %v; sshd log:\n%s", err, logText)
	}
}

// StartAfter starts sshd in the background after d, for tests of waiting for
// a host that comes up late. Failures are reported with t.Errorf.
func (h *Host) StartAfter(d time.Duration) {
	time.AfterFunc(d, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.sshd != nil || h.closed {
			return
		}
		if err := h.spawn(); err != nil {
			h.t.Errorf("testhost: %v", err)
		}
	})
}

// spawn starts the sshd process; h.mu must be held.
func (h *Host) spawn() error {
	cmd := exec.Command("ip", h.inside("/usr/sbin/sshd", "-D", "-e", "-f", h.config)...)
	log, err := os.OpenFile(h.LogPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("sshd log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so Stop also ends the sessions sshd forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start sshd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	h.sshd, h.exited = cmd, exited
	return nil
}

// Stop kills sshd and every session it started; connections to Addr are
// then refused until Start.
func (h *Host) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sshd == nil {
		return
	}
	_ = syscall.Kill(-h.sshd.Process.Pid, syscall.SIGKILL)
	<-h.exited
	h.sshd, h.exited = nil, nil
}

// RotateHostKey gives the host a new host key and restarts sshd, as a
// reinstalled machine behind the same address would present.
func (h *Host) RotateHostKey() {
	h.t.Helper()
	h.Stop()
	if err := h.writeHostKey(); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	h.Start()
}

// LogPath is the file sshd's log goes to; tests print it when a login fails
// for a reason they did not expect.
func (h *Host) LogPath() string { return fmt.Sprintf("%s/sshd.log", h.dir) }
