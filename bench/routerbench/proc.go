package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 per second for user space on every architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procStat returns the parent pid and the CPU time (user + system) of a process
// from /proc/PID/stat.
func procStat(pid int) (ppid int, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces; the
	// fields after the last ')' are plain numbers.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return ppid, time.Duration(utime+stime) * clockTick, nil
}

// cpuTime is the CPU time the processes have used so far; a process that is gone
// counts as zero.
func cpuTime(pids ...int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if _, cpu, err := procStat(pid); err == nil {
			total += cpu
		}
	}
	return total
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := procStat(p); err == nil && ppid == pid {
			pids = append(pids, p)
		}
	}
	return pids
}

// alive reports whether a process with the pid exists.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// memory is a process's resident set now and at its peak, in bytes.
type memory struct{ rss, peak int64 }

// readMemory reads VmRSS and VmHWM from /proc/PID/status.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.rss = kb << 10
		case "VmHWM:":
			m.peak = kb << 10
		}
	}
	return m, nil
}
