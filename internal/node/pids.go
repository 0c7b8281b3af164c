package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// pidRecord identifies the process group of one running replica. StartTime (from
// /proc/PID/stat, in clock ticks since boot) tells a still-running leader apart
// from an unrelated process that got the same pid later; it is recorded instead
// of relying on the command line alone because "sh -c" often execs the app, which
// changes /proc/PID/cmdline after the record was written.
type pidRecord struct {
	PGID      int    `json:"pgid"`
	StartTime uint64 `json:"start_time"`
	Cmdline   string `json:"cmdline"`
	Workload  string `json:"workload"`
	Replica   int    `json:"replica"`
}

// pidFile keeps DATA_DIR/node-pids.json up to date with the process groups the
// node runs, so that the next node can kill what a crashed one left behind.
type pidFile struct {
	path string

	mu      sync.Mutex
	records map[string]pidRecord // by workload/replica
}

func newPidFile(path string) *pidFile {
	return &pidFile{path: path, records: make(map[string]pidRecord)}
}

func pidKey(workload string, replica int) string {
	return workload + "/" + strconv.Itoa(replica)
}

// Set records the process group of a replica that has just started.
func (p *pidFile) Set(rec pidRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records[pidKey(rec.Workload, rec.Replica)] = rec
	return p.writeLocked()
}

// Remove forgets the replica's process group once it has exited.
func (p *pidFile) Remove(workload string, replica int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.records, pidKey(workload, replica))
	return p.writeLocked()
}

func (p *pidFile) writeLocked() error {
	recs := make([]pidRecord, 0, len(p.records))
	for _, r := range p.records {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].PGID < recs[j].PGID })
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode pid file: %w", err)
	}
	return writeFileAtomic(p.path, b)
}

// killLeftovers kills the process groups recorded in the pid file by a previous
// node, when they still exist, and then empties the file. A crashed node's app
// processes would otherwise keep their ports and run a release nobody manages.
func killLeftovers(path string, logger *slog.Logger) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var recs []pidRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		logger.Warn("ignoring unreadable pid file", "path", path, "err", err)
		recs = nil
	}
	for _, r := range recs {
		if r.PGID <= 1 || !groupStillOurs(r) {
			continue
		}
		logger.Info("killing process group left by a previous node",
			"pgid", r.PGID, "workload", r.Workload, "replica", r.Replica)
		if err := syscall.Kill(-r.PGID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			logger.Warn("kill leftover process group", "pgid", r.PGID, "err", err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// groupStillOurs reports whether the recorded process group still exists and is
// the one we started. When the leader is alive, its start time must match. When
// it is gone (killed by its parent-death signal) its children may still hold the
// group: Linux does not reuse a pid number while a process group carries it, so
// any process in that group is one of ours.
func groupStillOurs(r pidRecord) bool {
	if st, err := readProcStat(r.PGID); err == nil {
		return st.startTime == r.StartTime
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.pgrp == r.PGID {
			return true
		}
	}
	return false
}

type procStat struct {
	state     byte
	pgrp      int
	startTime uint64
}

// readProcStat reads the fields of /proc/PID/stat prosper needs. The command name
// in parentheses may itself contain spaces and parentheses, so fields are counted
// from the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// After ")": state(3) ppid(4) pgrp(5) ... starttime(22).
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, startTime: start}, nil
}

// processAlive reports whether pid exists and is not a zombie waiting for its
// parent to collect it.
func processAlive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// readCmdline returns /proc/PID/cmdline with its NUL separators as spaces.
func readCmdline(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// writeFileAtomic replaces path with data so a crash never leaves half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
