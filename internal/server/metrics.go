package server

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/router"
)

// handleAppMetrics answers the router's per-release figures for one app:
// requests, status classes, proxy errors, in-flight and latency quantiles.
func (s *Server) handleAppMetrics(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	if _, err := s.store.GetApp(r.Context(), name); err != nil {
		writeStoreError(w, name, err)
		return
	}
	all, err := s.node.Metrics(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	out := []router.ReleaseMetrics{}
	for _, m := range all {
		if m.App == name {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePrometheus relays the router's metrics in Prometheus text format, for a
// scraper holding a token (bearer_token in its scrape config).
func (s *Server) handlePrometheus(w http.ResponseWriter, r *http.Request) {
	resp, err := s.node.Prometheus(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, "ask the node: "+err.Error(), "restart the platform with: prosper up")
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(resp)
	procs, err := s.node.ProcStats(r.Context())
	if err != nil {
		// The router's figures are still worth a scrape.
		s.log.Warn("read process stats for /metrics", "err", err)
		return
	}
	writeProcessMetrics(w, procs)
}

// writeProcessMetrics writes, per app and release, the CPU time, resident
// memory and restarts of its processes:
//
//	prosper_process_cpu_seconds_total{app,release}     counter
//	prosper_process_resident_memory_bytes{app,release} gauge
//	prosper_process_restarts_total{app,release}        counter
//
// The CPU time is that of the live processes, so it drops when one restarts,
// which Prometheus's rate() takes as a counter reset.
func writeProcessMetrics(w io.Writer, procs []node.ProcStats) {
	type key struct {
		app     string
		release int
	}
	sums := map[key]node.ProcStats{}
	var keys []key
	for _, p := range procs {
		k := key{p.App, p.Release}
		cur, seen := sums[k]
		if !seen {
			keys = append(keys, k)
		}
		cur.CPUSeconds += p.CPUSeconds
		cur.RSSBytes += p.RSSBytes
		cur.Restarts += p.Restarts
		sums[k] = cur
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.app, b.app), cmp.Compare(a.release, b.release)) })
	families := []struct {
		name, kind, help string
		value            func(node.ProcStats) string
	}{
		{"prosper_process_cpu_seconds_total", "counter", "User and system CPU time of a release's live processes.",
			func(p node.ProcStats) string { return strconv.FormatFloat(p.CPUSeconds, 'g', -1, 64) }},
		{"prosper_process_resident_memory_bytes", "gauge", "Resident memory of a release's processes.",
			func(p node.ProcStats) string { return strconv.FormatInt(p.RSSBytes, 10) }},
		{"prosper_process_restarts_total", "counter", "Restarts of a release's processes since the node started them.",
			func(p node.ProcStats) string { return strconv.Itoa(p.Restarts) }},
	}
	bw := bufio.NewWriter(w)
	for _, f := range families {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		for _, k := range keys {
			fmt.Fprintf(bw, "%s{app=%s,release=\"%d\"} %s\n", f.name, promLabel(k.app), k.release, f.value(sums[k]))
		}
	}
	_ = bw.Flush()
}

// promLabelEscaper escapes a label value as the exposition format requires.
var promLabelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func promLabel(v string) string { return `"` + promLabelEscaper.Replace(v) + `"` }
