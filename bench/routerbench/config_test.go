package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// testParams are the params the config tests render with: 3 workers, so a
// config that ignores the count and uses its default or the core count fails.
func testParams(t *testing.T) peerParams {
	return peerParams{Dir: t.TempDir(), Backend: "127.0.0.1:9999", Listen: "127.0.0.1:18082", Port: 18082,
		Host: benchHost, Workers: 3}
}

// render writes the spec's config into p.Dir and returns its files.
func render(t *testing.T, s *peerSpec, p peerParams) map[string]string {
	t.Helper()
	files, err := s.config(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.writeConfig(p); err != nil {
		t.Fatal(err)
	}
	return files
}

// validateWith runs the peer's own config check when the peer is installed.
func validateWith(t *testing.T, s *peerSpec, args ...string) string {
	t.Helper()
	bin, err := s.find()
	if err != nil {
		t.Logf("not validated by %s itself: %v", s.name, err)
		return ""
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", s.name, args, err, out)
	}
	return string(out)
}

func mustMatch(t *testing.T, text string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(text) {
			t.Errorf("config lacks %q:\n%s", p, text)
		}
	}
}

func TestNginxConfig(t *testing.T) {
	s, p := nginxSpec(), testParams(t)
	conf := render(t, s, p)["nginx.conf"]
	mustMatch(t, conf, `^worker_processes 3;$`, `^\s*access_log off;$`, `^\s*keepalive 64;$`,
		`^\s*server 127\.0\.0\.1:9999;$`, `^\s*listen 127\.0\.0\.1:18082;$`, `proxy_http_version 1\.1;`,
		`proxy_set_header Connection "";`, `proxy_set_header Host \$host;`)
	validateWith(t, s, "-t", "-p", p.Dir, "-c", filepath.Join(p.Dir, "nginx.conf"), "-e", filepath.Join(p.Dir, "error.log"))
}

func TestHAProxyConfig(t *testing.T) {
	s, p := haproxySpec(), testParams(t)
	conf := render(t, s, p)["haproxy.cfg"]
	mustMatch(t, conf, `^\s*nbthread 3$`, `^\s*mode http$`, `^\s*http-reuse always$`, `^\s*option http-keep-alive$`,
		`^\s*option forwardfor$`, `^\s*bind 127\.0\.0\.1:18082$`, `^\s*server app 127\.0\.0\.1:9999$`)
	// HAProxy logs only with a log directive.
	if regexp.MustCompile(`(?m)^\s*(log|option httplog)\b`).MatchString(conf) {
		t.Errorf("config logs requests:\n%s", conf)
	}
	validateWith(t, s, "-c", "-f", filepath.Join(p.Dir, "haproxy.cfg"))
	if got := s.args(p); !slices.Contains(got, "-db") {
		t.Errorf("args %v: want -db, HAProxy in the foreground", got)
	}
}

func TestCaddyConfig(t *testing.T) {
	s, p := caddySpec(), testParams(t)
	render(t, s, p)
	if env := s.env(p); !slices.Contains(env, "GOMAXPROCS=3") {
		t.Errorf("env %v: want GOMAXPROCS=3", env)
	}
	out := validateWith(t, s, "adapt", "--validate", "--config", filepath.Join(p.Dir, "Caddyfile"), "--adapter", "caddyfile")
	if out == "" {
		return
	}
	// adapt prints the JSON config on its first line, warnings after it.
	line, _, _ := strings.Cut(out, "\n")
	var cfg struct {
		Admin struct{ Disabled bool }
		Apps  struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string
					Logs   any
					Routes []struct {
						Handle []struct {
							Handler   string
							Upstreams []struct{ Dial string }
							Transport struct {
								KeepAlive struct {
									MaxIdleConnsPerHost int `json:"max_idle_conns_per_host"`
								} `json:"keep_alive"`
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(line), &cfg); err != nil {
		t.Fatalf("adapted config: %v\n%s", err, out)
	}
	if !cfg.Admin.Disabled {
		t.Error("admin endpoint not disabled")
	}
	if len(cfg.Apps.HTTP.Servers) != 1 {
		t.Fatalf("servers %+v: want one", cfg.Apps.HTTP.Servers)
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		if !slices.Equal(srv.Listen, []string{p.Listen}) {
			t.Errorf("listen %v, want only %s", srv.Listen, p.Listen)
		}
		if srv.Logs != nil {
			t.Errorf("access logs on: %v", srv.Logs)
		}
		if len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 {
			t.Fatalf("routes %+v: want one reverse_proxy", srv.Routes)
		}
		h := srv.Routes[0].Handle[0]
		if h.Handler != "reverse_proxy" || len(h.Upstreams) != 1 || h.Upstreams[0].Dial != p.Backend {
			t.Errorf("handler %+v: want reverse_proxy to %s", h, p.Backend)
		}
		if h.Transport.KeepAlive.MaxIdleConnsPerHost != 64 {
			t.Errorf("idle connections per host %d, want 64 as nginx keeps", h.Transport.KeepAlive.MaxIdleConnsPerHost)
		}
	}
}

func TestTraefikConfig(t *testing.T) {
	s, p := traefikSpec(), testParams(t)
	files := render(t, s, p)
	if env := s.env(p); !slices.Contains(env, "GOMAXPROCS=3") {
		t.Errorf("env %v: want GOMAXPROCS=3", env)
	}
	var static map[string]any
	if err := yaml.Unmarshal([]byte(files["traefik.yml"]), &static); err != nil {
		t.Fatal(err)
	}
	for _, off := range []string{"accessLog", "api", "metrics", "tracing"} {
		if _, on := static[off]; on {
			t.Errorf("static config sets %s", off)
		}
	}
	var st struct {
		EntryPoints map[string]struct{ Address string } `yaml:"entryPoints"`
		Providers   struct{ File struct{ Filename string } }
		Transport   struct {
			MaxIdleConnsPerHost int `yaml:"maxIdleConnsPerHost"`
		} `yaml:"serversTransport"`
	}
	if err := yaml.Unmarshal([]byte(files["traefik.yml"]), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.EntryPoints) != 1 || st.EntryPoints["web"].Address != p.Listen {
		t.Errorf("entry points %+v: want only web on %s", st.EntryPoints, p.Listen)
	}
	if want := filepath.Join(p.Dir, "traefik-dynamic.yml"); st.Providers.File.Filename != want {
		t.Errorf("file provider %q, want %q", st.Providers.File.Filename, want)
	}
	if st.Transport.MaxIdleConnsPerHost != 64 {
		t.Errorf("idle connections per host %d, want 64", st.Transport.MaxIdleConnsPerHost)
	}
	var dy struct {
		HTTP struct {
			Routers map[string]struct {
				Rule    string
				Service string
			}
			Services map[string]struct {
				LoadBalancer struct {
					PassHostHeader bool `yaml:"passHostHeader"`
					Servers        []struct{ URL string }
				} `yaml:"loadBalancer"`
			}
		}
	}
	if err := yaml.Unmarshal([]byte(files["traefik-dynamic.yml"]), &dy); err != nil {
		t.Fatal(err)
	}
	r := dy.HTTP.Routers["bench"]
	if r.Rule != "Host(`"+benchHost+"`)" {
		t.Errorf("rule %q", r.Rule)
	}
	lb := dy.HTTP.Services[r.Service].LoadBalancer
	if !lb.PassHostHeader || len(lb.Servers) != 1 || lb.Servers[0].URL != "http://"+p.Backend {
		t.Errorf("service %q: %+v: want the Host passed to http://%s", r.Service, lb, p.Backend)
	}
}
