// Command fake-k3s stands in for the k3s binary on test hosts, where the real
// one cannot be downloaded: it reads the configuration prosper writes, serves
// the little of the Kubernetes API prosper uses (version, readiness, nodes)
// over TLS on :6443, lets servers and agents join the first server with the
// cluster's token, and fails like k3s (non-zero exit, k3s-like log lines) when
// the token is wrong or the server cannot be reached. It is a test fixture,
// never shipped.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// version is set at build time: -ldflags "-X main.version=v1.31.4+k3s1".
var version = "v0.0.0+k3s0"

// Paths k3s uses.
const (
	configPath     = "/etc/rancher/k3s/config.yaml"
	kubeconfigPath = "/etc/rancher/k3s/k3s.yaml"
	dataDir        = "/var/lib/rancher/k3s"
)

// config is /etc/rancher/k3s/config.yaml as provision.K3sInstall writes it.
type config struct {
	NodeName    string   `yaml:"node-name"`
	NodeIP      string   `yaml:"node-ip"`
	Token       string   `yaml:"token"`
	ClusterInit bool     `yaml:"cluster-init"`
	Server      string   `yaml:"server"`
	NodeLabel   []string `yaml:"node-label"`
	NodeTaint   []string `yaml:"node-taint"`
	Disable     []string `yaml:"disable"`
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: k3s server|agent|--version")
		os.Exit(1)
	}
	switch args[0] {
	case "--version", "-v", "version":
		fmt.Printf("k3s version %s (fake)\ngo version go1.26\n", version)
		return
	case "server", "agent":
	default:
		fmt.Fprintf(os.Stderr, "fake k3s: unknown command %q\n", args[0])
		os.Exit(1)
	}
	cfg, err := readConfig()
	if err != nil {
		fatal("%v", err)
	}
	if args[0] == "agent" {
		if cfg.Server == "" {
			fatal("--server is required")
		}
		err = runAgent(cfg)
	} else {
		err = runServer(cfg)
	}
	if err != nil {
		fatal("%v", err)
	}
}

func readConfig() (config, error) {
	var c config
	data, err := os.ReadFile(configPath)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", configPath, err)
	}
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.Token == "" && c.Server != "" {
		return c, fmt.Errorf("--token is required to join %s", c.Server)
	}
	return c, nil
}

// logf writes a k3s-like (logrus) log line to stderr, which the unit's log
// keeps.
func logf(level, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339), level, fmt.Sprintf(format, args...))
}

func fatal(format string, args ...any) {
	logf("fatal", format, args...)
	os.Exit(1)
}

// ready tells the fake systemd the service is up (Type=notify): it writes
// the file the unit's environment names.
func ready() {
	if f := os.Getenv("FAKE_SYSTEMD_READY"); f != "" {
		_ = os.WriteFile(f, []byte("READY=1\n"), 0o644)
	}
	logf("info", "k3s is up and running")
}

// splitLabel parses "key=value".
func splitLabel(s string) (string, string) {
	k, v, _ := strings.Cut(s, "=")
	return k, v
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
