package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prosperhq/prosper/internal/runtime"
)

const (
	stderrTailLines = 20
	// readerGrace bounds the wait for a process's output after it exited: a
	// grandchild that left the process group may hold the pipe open for ever.
	readerGrace = 2 * time.Second
)

// backoffPolicy spaces the restarts of a crashing replica.
type backoffPolicy struct {
	initial    time.Duration
	max        time.Duration
	resetAfter time.Duration // healthy running time that forgives earlier crashes
}

var defaultBackoff = backoffPolicy{initial: 500 * time.Millisecond, max: 30 * time.Second, resetAfter: 60 * time.Second}

// next returns the delay before the restart that follows one of delay, given how
// long the process that just ended had been healthy.
func (p backoffPolicy) next(delay, healthyFor time.Duration) time.Duration {
	if healthyFor >= p.resetAfter {
		return p.initial
	}
	return min(delay*2, p.max)
}

// replica is one process slot of a workload: it runs the command, restarts it
// when it exits and stops it on request.
type replica struct {
	sup   *Supervisor
	spec  runtime.Spec
	index int
	addr  string

	stopOnce sync.Once
	stopCh   chan struct{} // closed to ask for a graceful stop
	done     chan struct{} // closed when the replica has stopped for good

	mu           sync.Mutex
	st           runtime.ReplicaStatus
	healthySince time.Time
	pgid         int
}

func newReplica(s *Supervisor, spec runtime.Spec, index int, addr string) *replica {
	return &replica{
		sup: s, spec: spec, index: index, addr: addr,
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
		st:     runtime.ReplicaStatus{Index: index, State: runtime.StateStarting, Addr: addr},
	}
}

func (r *replica) requestStop() { r.stopOnce.Do(func() { close(r.stopCh) }) }

// kill sends SIGKILL to the current process group, if any.
func (r *replica) kill() {
	r.mu.Lock()
	pgid := r.pgid
	r.mu.Unlock()
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func (r *replica) status() runtime.ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.StderrTail = append([]string(nil), r.st.StderrTail...)
	return st
}

// run is the replica's life: start, wait, back off, restart, until stopped.
func (r *replica) run() {
	defer close(r.done)
	log := r.sup.logger.With("workload", r.spec.ID, "replica", r.index)
	var delay time.Duration
	for {
		healthyFor, stopped := r.runOnce()
		if stopped {
			r.setState(runtime.StateStopped)
			return
		}
		if delay == 0 {
			delay = r.sup.backoff.initial
		} else {
			delay = r.sup.backoff.next(delay, healthyFor)
		}
		st := r.status()
		log.Warn("replica exited; restarting after back-off", "exit", st.LastExit, "backoff", delay)
		r.setState(runtime.StateBackoff)
		t := time.NewTimer(delay)
		select {
		case <-r.stopCh:
			t.Stop()
			r.setState(runtime.StateStopped)
			return
		case <-t.C:
		}
		r.mu.Lock()
		r.st.Restarts++
		r.mu.Unlock()
	}
}

func (r *replica) setState(state string) {
	r.mu.Lock()
	r.st.State = state
	if state != runtime.StateRunning {
		r.st.Healthy = false
	}
	r.mu.Unlock()
}

func (r *replica) setHealthy(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.State == runtime.StateStopped || r.st.State == runtime.StateBackoff {
		return
	}
	r.st.Healthy = ok
	if ok {
		r.st.State = runtime.StateRunning
		r.healthySince = time.Now()
	} else {
		r.st.State = runtime.StateStarting
		r.healthySince = time.Time{}
	}
}

func (r *replica) env() []string {
	env := append([]string(nil), r.sup.baseEnv...)
	keys := make([]string, 0, len(r.spec.Env))
	for k := range r.spec.Env {
		if k != "PORT" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+r.spec.Env[k])
	}
	_, port, _ := net.SplitHostPort(r.addr)
	return append(env, "PORT="+port)
}

// runOnce runs the command once. It returns how long the process had been
// healthy when it ended, and whether it ended because a stop was requested.
func (r *replica) runOnce() (healthyFor time.Duration, stopped bool) {
	select {
	case <-r.stopCh:
		return 0, true
	default:
	}
	log := r.sup.logger.With("workload", r.spec.ID, "replica", r.index)

	cmd := exec.Command("/bin/sh", "-c", r.spec.Command)
	cmd.Dir = r.spec.Artifact
	cmd.Env = r.env()
	// Its own process group so that stopping kills what the shell started too;
	// SIGKILL when the node dies so no app outlives an unmanaged node for long.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		r.recordExit(fmt.Sprintf("failed to start: %v", err))
		return 0, false
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		r.recordExit(fmt.Sprintf("failed to start: %v", err))
		return 0, false
	}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW
	err = cmd.Start()
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		r.recordExit(fmt.Sprintf("failed to start: %v", err))
		return 0, false
	}
	pid := cmd.Process.Pid
	if n := r.spec.Nice; n > 0 {
		// The whole process group: what the shell started so far too; later
		// children inherit it.
		if err := syscall.Setpriority(syscall.PRIO_PGRP, pid, min(n, 19)); err != nil {
			log.Warn("lower the CPU priority", "nice", n, "err", err)
		}
	}
	started := time.Now()
	r.mu.Lock()
	r.pgid = pid
	r.st.PID = pid
	r.st.StartedAt = started
	r.st.State = runtime.StateStarting
	r.st.Healthy = false
	r.mu.Unlock()
	if err := r.recordPid(pid); err != nil {
		log.Warn("record process group", "err", err)
	}
	log.Info("replica started", "pid", pid, "addr", r.addr)

	var readers sync.WaitGroup
	readers.Go(func() { r.readOutput(stdoutR, "stdout") })
	readers.Go(func() { r.readOutput(stderrR, "stderr") })

	probeCtx, stopProbe := context.WithCancel(context.Background())
	var probe sync.WaitGroup
	probe.Go(func() { r.probeLoop(probeCtx) })

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-r.stopCh:
		stopped = true
		waitErr = r.terminate(pid, exited)
	}
	stopProbe()
	probe.Wait()

	r.mu.Lock()
	if !r.healthySince.IsZero() {
		healthyFor = time.Since(r.healthySince)
	}
	r.healthySince = time.Time{}
	r.pgid = 0
	r.mu.Unlock()

	// Whatever the shell left in its group goes with it, so the port is free for
	// the next start.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	waitTimeout(&readers, readerGrace)
	stdoutR.Close()
	stderrR.Close()
	if err := r.sup.pids.Remove(r.spec.ID, r.index); err != nil {
		log.Warn("record process group", "err", err)
	}
	r.recordExit(describeExit(waitErr, cmd.ProcessState))
	if !stopped {
		r.sup.recordCrash(r.spec, r.index, started, describeExit(waitErr, cmd.ProcessState), cmd.ProcessState)
	}
	return healthyFor, stopped
}

// terminate asks the process group to exit, then kills it after the stop timeout.
func (r *replica) terminate(pgid int, exited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(r.sup.stopTimeout)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
		r.sup.logger.Warn("replica did not stop in time; killing it",
			"workload", r.spec.ID, "replica", r.index, "timeout", r.sup.stopTimeout)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
	}
}

func (r *replica) recordPid(pid int) error {
	rec := pidRecord{PGID: pid, Cmdline: readCmdline(pid), Workload: r.spec.ID, Replica: r.index}
	if st, err := readProcStat(pid); err == nil {
		rec.StartTime = st.startTime
	}
	return r.sup.pids.Set(rec)
}

func (r *replica) recordExit(how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.LastExit = how
	r.st.LastExitAt = time.Now()
	r.st.PID = 0
	r.st.Healthy = false
}

// readOutput stores each line the process writes and keeps the stderr tail.
func (r *replica) readOutput(f *os.File, stream string) {
	warned := false
	scanLines(f, func(text string) {
		if stream == "stderr" {
			r.mu.Lock()
			r.st.StderrTail = append(r.st.StderrTail, text)
			if n := len(r.st.StderrTail); n > stderrTailLines {
				r.st.StderrTail = append([]string(nil), r.st.StderrTail[n-stderrTailLines:]...)
			}
			r.mu.Unlock()
		}
		err := r.sup.logs.Append(runtime.LogLine{
			Time: time.Now(), App: r.spec.App, Release: r.spec.Release,
			Replica: r.index, Stream: stream, Text: text,
		})
		if err != nil && !warned {
			warned = true
			r.sup.logger.Warn("store app output", "workload", r.spec.ID, "err", err)
		}
	})
}

// describeExit says in words how a process ended: "exit code 3", "killed by
// signal SIGKILL".
func describeExit(waitErr error, ps *os.ProcessState) string {
	if ps == nil {
		if waitErr != nil {
			return "failed: " + waitErr.Error()
		}
		return "unknown"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := unix.SignalName(ws.Signal())
		if name == "" {
			name = "signal " + strconv.Itoa(int(ws.Signal()))
		}
		return "killed by signal " + name
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return "failed: " + waitErr.Error()
	}
	return "exit code " + strconv.Itoa(ps.ExitCode())
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
