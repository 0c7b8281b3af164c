package router

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WritePrometheus writes the router's metrics in the Prometheus text exposition
// format (version 0.0.4), for a /metrics endpoint:
//
//	prosper_router_requests_total{app,release,code_class}       counter
//	prosper_router_proxy_errors_total{app,release}              counter
//	prosper_router_request_duration_seconds{app,release,quantile} summary
//	prosper_router_in_flight{app,release}                       gauge
//	prosper_router_mirror_requests_total{app,release,result}    counter
//	prosper_router_mirror_duration_seconds{app,release,quantile} summary
//
// The mirror series, whose release is the candidate's, appear once a table has
// configured a mirror; result is sent, error, dropped or skipped (see
// MirrorMetrics: sent is Mirrored).
//
// The release label is the release number ("3"). It is written by hand: the format
// is small and stable, and client_golang would be a large dependency for it.
func (rt *Router) WritePrometheus(w io.Writer) error {
	all := rt.metrics.all()
	rels := make([]releaseTotals, len(all))
	for i, m := range all {
		rels[i] = m.totals()
	}
	mall := rt.mirrorMetrics.all()
	mirrors := make([]mirrorTotals, len(mall))
	for i, m := range mall {
		mirrors[i] = m.totals()
	}
	return writePrometheus(w, rels, mirrors)
}

// writePrometheus writes the series of WritePrometheus from totals, the
// router's own or those summed over the router replicas (see Fleet).
func writePrometheus(w io.Writer, all []releaseTotals, mirrors []mirrorTotals) error {
	bw := bufio.NewWriter(w)

	header(bw, "prosper_router_requests_total", "counter", "Requests answered, by app, release and status class.")
	for _, m := range all {
		classes := []classCount{
			{"2xx", m.status2xx}, {"3xx", m.status3xx},
			{"4xx", m.status4xx}, {"5xx", m.status5xx},
		}
		// Upgrades are rare; a series that is always 0 would only be noise.
		if n := m.status1xx; n > 0 {
			classes = append(classes, classCount{"1xx", n})
		}
		for _, c := range classes {
			fmt.Fprintf(bw, "prosper_router_requests_total{%s,code_class=%q} %d\n", labels(m), c.class, c.n)
		}
	}

	header(bw, "prosper_router_proxy_errors_total", "counter", "Failures to reach a release or to read its whole response.")
	for _, m := range all {
		fmt.Fprintf(bw, "prosper_router_proxy_errors_total{%s} %d\n", labels(m), m.proxyErrors)
	}

	header(bw, "prosper_router_request_duration_seconds", "summary", "Time from receiving a request to the end of its response.")
	for _, m := range all {
		l := m.latency.reading()
		for _, q := range []struct {
			label string
			ms    float64
		}{{"0.5", l.p50}, {"0.9", l.p90}, {"0.95", l.p95}, {"0.99", l.p99}} {
			fmt.Fprintf(bw, "prosper_router_request_duration_seconds{%s,quantile=%q} %s\n", labels(m), q.label, seconds(q.ms))
		}
		fmt.Fprintf(bw, "prosper_router_request_duration_seconds_sum{%s} %s\n", labels(m), seconds(l.sum))
		fmt.Fprintf(bw, "prosper_router_request_duration_seconds_count{%s} %d\n", labels(m), int64(l.count))
	}

	header(bw, "prosper_router_in_flight", "gauge", "Requests being served right now.")
	for _, m := range all {
		fmt.Fprintf(bw, "prosper_router_in_flight{%s} %d\n", labels(m), m.inFlight)
	}

	writeMirrorPrometheus(bw, mirrors)

	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write prometheus metrics: %w", err)
	}
	return nil
}

type classCount struct {
	class string
	n     int64
}

func header(w io.Writer, name, kind, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func labels(m releaseTotals) string {
	return releaseLabels(m.app, m.release)
}

func releaseLabels(app string, release int) string {
	return `app="` + escapeLabel(app) + `",release="` + strconv.Itoa(release) + `"`
}

// writeMirrorPrometheus writes the candidates' series. A router that never
// mirrored writes nothing, so its output is what it was before mirroring existed.
func writeMirrorPrometheus(w io.Writer, all []mirrorTotals) {
	if len(all) == 0 {
		return
	}
	header(w, "prosper_router_mirror_requests_total", "counter", "Requests selected for copying to a candidate release, by result.")
	for _, m := range all {
		lb := releaseLabels(m.app, m.release)
		for _, c := range []classCount{
			{"sent", m.mirrored}, {"error", m.errors},
			{"dropped", m.dropped}, {"skipped", m.skipped},
		} {
			fmt.Fprintf(w, "prosper_router_mirror_requests_total{%s,result=%q} %d\n", lb, c.class, c.n)
		}
	}
	header(w, "prosper_router_mirror_duration_seconds", "summary", "Time from sending a copy to a candidate to the end of its answer.")
	for _, m := range all {
		lb := releaseLabels(m.app, m.release)
		l := m.latency.reading()
		for _, q := range []struct {
			label string
			ms    float64
		}{{"0.5", l.p50}, {"0.9", l.p90}, {"0.99", l.p99}} {
			fmt.Fprintf(w, "prosper_router_mirror_duration_seconds{%s,quantile=%q} %s\n", lb, q.label, seconds(q.ms))
		}
		fmt.Fprintf(w, "prosper_router_mirror_duration_seconds_sum{%s} %s\n", lb, seconds(l.sum))
		fmt.Fprintf(w, "prosper_router_mirror_duration_seconds_count{%s} %d\n", lb, int64(l.count))
	}
}

// labelEscaper escapes a label value as the exposition format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string {
	return labelEscaper.Replace(v)
}

func seconds(ms float64) string {
	return strconv.FormatFloat(ms/1000, 'g', -1, 64)
}
