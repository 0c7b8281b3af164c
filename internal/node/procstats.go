package node

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ProcStats is what the processes of one workload use now, read from /proc.
// Every process of a replica's process group counts (the shell of a Procfile
// line and what it runs).
type ProcStats struct {
	Workload string `json:"workload"`
	App      string `json:"app"`
	Release  int    `json:"release"`
	// Processes is the number of live processes found in the groups.
	Processes int `json:"processes"`
	// CPUSeconds is the user and system CPU time of the live processes since
	// they started; it drops when a process exits, as a counter resets.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBytes is their resident memory.
	RSSBytes int64 `json:"rss_bytes"`
	// Restarts sums the replicas' restarts since the node started them.
	Restarts int `json:"restarts"`
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every Linux
// architecture prosper runs on (the kernel fixes it for user space).
const clockTicks = 100

// procUsage is one process's share of a ProcStats.
type procUsage struct {
	pgrp       int
	cpuTicks   uint64
	rssPages   int64
	zombieOrGo bool
}

// readProcUsage reads the process group, CPU ticks and resident pages of pid
// from /proc/PID/stat, counting fields from the last ')' as readProcStat does.
func readProcUsage(pid int) (procUsage, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procUsage{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// After ")": state(3) ppid(4) pgrp(5) ... utime(14) stime(15) ... rss(24).
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procUsage{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	pgrp, err1 := strconv.Atoi(f[2])
	utime, err2 := strconv.ParseUint(f[11], 10, 64)
	stime, err3 := strconv.ParseUint(f[12], 10, 64)
	rss, err4 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return procUsage{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return procUsage{pgrp: pgrp, cpuTicks: utime + stime, rssPages: rss, zombieOrGo: f[0] == "Z" || f[0] == "X"}, nil
}

// usageByGroup reads every process in /proc once and sums the usage of those
// in the wanted process groups.
func usageByGroup(groups map[int]bool) map[int]*ProcStats {
	out := make(map[int]*ProcStats, len(groups))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	page := int64(os.Getpagesize())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		u, err := readProcUsage(pid)
		// A process that exited between ReadDir and the read is simply gone.
		if err != nil || !groups[u.pgrp] || u.zombieOrGo {
			continue
		}
		st := out[u.pgrp]
		if st == nil {
			st = &ProcStats{}
			out[u.pgrp] = st
		}
		st.Processes++
		st.CPUSeconds += float64(u.cpuTicks) / clockTicks
		st.RSSBytes += u.rssPages * page
	}
	return out
}

// ProcStats returns the usage of every workload's processes, sorted by
// workload ID. A workload whose processes are all down (backing off between
// restarts) has Processes 0.
func (s *Supervisor) ProcStats() []ProcStats {
	type slot struct {
		stats *ProcStats
		pgids []int
	}
	s.mu.Lock()
	slots := make([]slot, 0, len(s.workloads))
	for _, w := range s.workloads {
		sl := slot{stats: &ProcStats{Workload: w.spec.ID, App: w.spec.App, Release: w.spec.Release}}
		for _, r := range w.replicas {
			r.mu.Lock()
			if r.pgid > 0 {
				sl.pgids = append(sl.pgids, r.pgid)
			}
			sl.stats.Restarts += r.st.Restarts
			r.mu.Unlock()
		}
		slots = append(slots, sl)
	}
	s.mu.Unlock()

	groups := map[int]bool{}
	for _, sl := range slots {
		for _, g := range sl.pgids {
			groups[g] = true
		}
	}
	usage := usageByGroup(groups)
	out := make([]ProcStats, 0, len(slots))
	for _, sl := range slots {
		for _, g := range sl.pgids {
			if u := usage[g]; u != nil {
				sl.stats.Processes += u.Processes
				sl.stats.CPUSeconds += u.CPUSeconds
				sl.stats.RSSBytes += u.RSSBytes
			}
		}
		out = append(out, *sl.stats)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload < out[j].Workload })
	return out
}

// getProcStats answers GET /v1/procstats.
func (n *node) getProcStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.sup.ProcStats())
}
