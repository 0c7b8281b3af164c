package router

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestWritePrometheus(t *testing.T) {
	ok := startBackend(t, "ok", nil)
	rt, srv := startRouter(t, Table{Routes: []Route{
		{App: "shop", Hosts: []string{"shop.localhost"}, Backends: []Backend{{Release: 3, Addrs: []string{addrOf(ok)}, Weight: 1}}},
		{App: `we"ird\app`, Hosts: []string{"weird.localhost"}, Backends: []Backend{{Release: 1, Addrs: []string{refusedAddr(t)}, Weight: 1}}},
	}})
	c := newClient(t)
	for range 3 {
		mustGet(t, c, srv.URL, "shop.localhost")
	}
	mustGet(t, c, srv.URL, "weird.localhost")
	eventually(t, "4 requests recorded", func() bool { return totalRequests(rt) == 4 })

	var out strings.Builder
	if err := rt.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"# TYPE prosper_router_requests_total counter\n",
		`prosper_router_requests_total{app="shop",release="3",code_class="2xx"} 3` + "\n",
		`prosper_router_requests_total{app="shop",release="3",code_class="5xx"} 0` + "\n",
		`prosper_router_requests_total{app="we\"ird\\app",release="1",code_class="5xx"} 1` + "\n",
		`prosper_router_proxy_errors_total{app="we\"ird\\app",release="1"} 1` + "\n",
		"# TYPE prosper_router_request_duration_seconds summary\n",
		`prosper_router_request_duration_seconds{app="shop",release="3",quantile="0.5"} `,
		`prosper_router_request_duration_seconds{app="shop",release="3",quantile="0.99"} `,
		`prosper_router_request_duration_seconds{app="shop",release="3",quantile="0.95"} `,
		`prosper_router_request_duration_seconds_count{app="shop",release="3"} 3` + "\n",
		`prosper_router_request_duration_seconds_sum{app="shop",release="3"} `,
		"# TYPE prosper_router_in_flight gauge\n",
		`prosper_router_in_flight{app="shop",release="3"} 0` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Every sample line must parse as the text format: name{labels} number.
	sample := regexp.MustCompile(`^prosper_router_[a-z_]+\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)+\} [0-9.e+-]+$`)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "# ") && !sample.MatchString(line) {
			t.Errorf("malformed sample line %q", line)
		}
	}
}

func TestWritePrometheusEmpty(t *testing.T) {
	var out strings.Builder
	if err := New(nil).WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "{") {
		t.Errorf("a router with no releases wrote samples:\n%s", out.String())
	}
}

var _ http.Handler = (*Router)(nil)
