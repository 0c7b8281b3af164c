package appconfig

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// Gate names accepted under verify.gates.
const (
	GateErrorRate = "error_rate" // "+1%": allowed rise of the error rate over live's
	GateP50       = "p50"        // "x1.3" or "+50ms": allowed median latency over live's
	GateP95       = "p95"        // "x1.3" or "+50ms": allowed p95 latency over live's
	GateP99       = "p99"        // "x1.3" or "+50ms": allowed p99 latency over live's
	GateDiffRate  = "diff_rate"  // "1%": allowed share of responses that differ
	GateBots      = "bots"       // "100%": share of bot runs that must pass
)

// configFields lists the keys of prosper.yaml in the order they are documented,
// which is also the order a user sees them in "known fields are ..." messages.
var configFields = []field[Config]{
	text("team", "a team name", checkTeam, func(c *Config, s string) { c.Team = s }),
	text("build", "a shell command", nil, func(c *Config, s string) { c.Build = strings.TrimSpace(s) }),
	text("run", "a shell command", nil, func(c *Config, s string) { c.Run = strings.TrimSpace(s) }),
	text("image", "an image reference such as docker.io/library/node:22-bookworm-slim", checkImage, func(c *Config, s string) { c.Image = strings.TrimSpace(s) }),
	text("health", "an HTTP path such as /healthz", checkHealth, func(c *Config, s string) { c.Health = s }),
	duration("health_timeout", time.Hour, func(c *Config, v Duration) { c.HealthTimeout = v }),
	integer("replicas", 1, MaxReplicas, func(c *Config, n int) { c.Replicas = n }),
	{"domains", decodeDomains},
	text("database", `"sqlite"`, checkDatabase, func(c *Config, s string) { c.Database = s }),
	{"verify", func(d *decoder, v ast.Node, c *Config) error {
		entries, err := d.mapping(v, "verify", "a mapping with mirror, window, min_requests, grace, steps, ignore or gates")
		if err != nil {
			return err
		}
		return decodeFields(d, entries, "verify", verifyFields, &c.Verify)
	}},
	text("bots", "a glob such as bots/*.yaml", checkBots, func(c *Config, s string) { c.Bots = s }),
}

var verifyFields = []field[Verify]{
	{"mirror", func(d *decoder, v ast.Node, dst *Verify) error {
		s, ok, err := d.scalar(v, "verify.mirror", "a percentage such as 100%")
		if err != nil || !ok {
			return err
		}
		p, err := parsePercent(s)
		if err != nil {
			return d.errorf(v, "verify.mirror: %v", err)
		}
		dst.Mirror = p
		return nil
	}},
	duration("verify.window", 24*time.Hour, func(dst *Verify, v Duration) { dst.Window = v }),
	integer("verify.min_requests", 1, 1_000_000, func(dst *Verify, n int) { dst.MinRequests = n }),
	duration("verify.grace", 24*time.Hour, func(dst *Verify, v Duration) { dst.Grace = v }),
	{"steps", decodeSteps},
	{"ignore", decodeIgnore},
	{"gates", decodeGates},
}

// text is a field holding one scalar, checked by check when it is not nil.
func text[T any](name, what string, check func(string) error, set func(*T, string)) field[T] {
	return field[T]{name, func(d *decoder, v ast.Node, dst *T) error {
		s, ok, err := d.scalar(v, name, what)
		if err != nil || !ok {
			return err
		}
		if check != nil {
			if err := check(s); err != nil {
				return d.errorf(v, "%s: %v", name, err)
			}
		}
		set(dst, s)
		return nil
	}}
}

// duration is a field holding a positive duration of at most max. full is the
// dotted name of the setting.
func duration[T any](full string, max time.Duration, set func(*T, Duration)) field[T] {
	return field[T]{keyOf(full), func(d *decoder, v ast.Node, dst *T) error {
		s, ok, err := d.scalar(v, full, "a duration such as 30s")
		if err != nil || !ok {
			return err
		}
		dur, err := parseDuration(s)
		if err != nil {
			return d.errorf(v, "%s: %v", full, err)
		}
		if dur <= 0 || dur.Duration() > max {
			return d.errorf(v, "%s: %s is out of range; use more than 0s and at most %s", full, s, shortDuration(max))
		}
		set(dst, dur)
		return nil
	}}
}

// integer is a field holding a whole number from lo to hi. full is the dotted
// name of the setting.
func integer[T any](full string, lo, hi int, set func(*T, int)) field[T] {
	return field[T]{keyOf(full), func(d *decoder, v ast.Node, dst *T) error {
		what := fmt.Sprintf("a whole number from %d to %d", lo, hi)
		s, ok, err := d.scalar(v, full, what)
		if err != nil || !ok {
			return err
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			r, _ := d.resolve(v)
			return d.errorf(v, "%s: expected %s, not %s", full, what, yamlfile.Describe(r))
		}
		if n < lo || n > hi {
			return d.errorf(v, "%s: %d is out of range; use %d to %d", full, n, lo, hi)
		}
		set(dst, n)
		return nil
	}}
}

// keyOf returns the key of a setting from its dotted name: "window" for
// "verify.window".
func keyOf(full string) string {
	return full[strings.LastIndex(full, ".")+1:]
}

// shortDuration writes 1h rather than time's 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func checkTeam(s string) error {
	if strings.ContainsAny(s, "\n\r") {
		return fmt.Errorf("a team name fits on one line")
	}
	return nil
}

// checkImage accepts what a registry client can pull: [HOST/]REPOSITORY with a
// :TAG, an @sha256:DIGEST, or both.
func checkImage(s string) error {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		return fmt.Errorf("%q is a URL; write the image without a scheme, such as registry.example.com/base/node:22", s)
	}
	if _, err := name.ParseReference(s); err != nil {
		return fmt.Errorf("%q is not an image reference (lower-case [REGISTRY/]REPOSITORY with :TAG or @sha256:DIGEST); "+
			"write it like docker.io/library/node:22-bookworm-slim", s)
	}
	return nil
}

func checkHealth(s string) error {
	switch {
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		return fmt.Errorf("%q is a URL; write only its path, such as /healthz", s)
	case !strings.HasPrefix(s, "/"):
		return fmt.Errorf("%q must start with \"/\"; write /%s", s, s)
	case strings.ContainsAny(s, " \t\n"):
		return fmt.Errorf("%q holds a space; an HTTP path cannot", s)
	}
	return nil
}

func checkDatabase(s string) error {
	if s == DatabaseSQLite {
		return nil
	}
	msg := fmt.Sprintf("%q is not supported; the supported database is %q", s, DatabaseSQLite)
	if yamlfile.Closest(s, []string{DatabaseSQLite}) != "" || strings.HasPrefix(strings.ToLower(s), DatabaseSQLite) {
		msg = fmt.Sprintf("%q is not supported (did you mean %q?)", s, DatabaseSQLite)
	}
	return fmt.Errorf("%s", msg)
}

func checkBots(s string) error {
	if strings.HasPrefix(s, "/") {
		return fmt.Errorf("%q must be relative to the repository root, such as bots/*.yaml", s)
	}
	if slices.Contains(strings.Split(s, "/"), "..") {
		return fmt.Errorf("%q leaves the repository; bot scenarios live inside it", s)
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob (check its brackets)", s)
	}
	return nil
}

func decodeDomains(d *decoder, v ast.Node, c *Config) error {
	items, err := d.list(v, "domains", "a list of host names")
	if err != nil || items == nil {
		return err
	}
	// An explicit empty list is kept apart from an absent key: it means "no
	// custom domains any more", while absence leaves them as they are.
	c.Domains = []string{}
	seen := map[string]bool{}
	for _, item := range items {
		s, ok, err := d.scalar(item, "domains", "a host name such as shop.example.com")
		if err != nil {
			return err
		}
		if !ok {
			return d.errorf(v, "domains: an entry is empty; remove it or write a host name")
		}
		host := strings.ToLower(strings.TrimSpace(s))
		if err := checkDomain(host); err != nil {
			return d.errorf(item, "domains: %v", err)
		}
		if seen[host] {
			return d.errorf(item, "domains: %s is listed twice", host)
		}
		seen[host] = true
		c.Domains = append(c.Domains, host)
	}
	return nil
}

// checkDomain accepts a host name as the router matches it against the Host header.
func checkDomain(s string) error {
	if i := strings.Index(s, "://"); i >= 0 {
		host, _, _ := strings.Cut(s[i+3:], "/")
		return fmt.Errorf("%q is a URL; write only the host name: %s", s, host)
	}
	if strings.HasPrefix(s, "*.") {
		return fmt.Errorf("wildcard %q is not supported; list each host name", s)
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		return fmt.Errorf("%q holds a port; write only the host name: %s", s, host)
	}
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than the 253 characters a host name may have", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a valid host name", s)
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Errorf("%q is not a valid host name (letters, digits, hyphens and dots only)", s)
			}
		}
	}
	return nil
}

func decodeSteps(d *decoder, v ast.Node, dst *Verify) error {
	items, err := d.list(v, "verify.steps", "a list of rising traffic shares such as [10%, 50%]")
	if err != nil {
		return err
	}
	dst.Steps = nil
	for _, item := range items {
		s, ok, err := d.scalar(item, "verify.steps", "a traffic share such as 10%")
		if err != nil {
			return err
		}
		if !ok {
			return d.errorf(v, "verify.steps: an entry is empty; remove it or write a share such as 10%%")
		}
		p, err := parsePercent(s)
		if err != nil {
			return d.errorf(item, "verify.steps: %v", err)
		}
		if p <= 0 || p >= 100 {
			return d.errorf(item, "verify.steps: %s: a step is a share above 0%% and below 100%% (the last step, 100%%, is the promotion itself)", s)
		}
		if n := len(dst.Steps); n > 0 && p <= dst.Steps[n-1] {
			return d.errorf(item, "verify.steps: %s after %s: steps must rise", s, dst.Steps[n-1])
		}
		dst.Steps = append(dst.Steps, p)
	}
	return nil
}

func decodeIgnore(d *decoder, v ast.Node, dst *Verify) error {
	items, err := d.list(v, "verify.ignore", "a list of JSON paths such as $.now")
	if err != nil {
		return err
	}
	dst.Ignore = nil
	for _, item := range items {
		s, ok, err := d.scalar(item, "verify.ignore", "a JSON path such as $.now")
		if err != nil {
			return err
		}
		if !ok {
			return d.errorf(v, "verify.ignore: an entry is empty; remove it or write a JSON path")
		}
		if !strings.HasPrefix(s, "$") {
			return d.errorf(item, "verify.ignore: %q is not a JSON path; write $.%s", s, strings.TrimPrefix(s, "."))
		}
		dst.Ignore = append(dst.Ignore, s)
	}
	return nil
}

var gateNames = []string{GateErrorRate, GateP50, GateP95, GateP99, GateDiffRate, GateBots}

func decodeGates(d *decoder, v ast.Node, dst *Verify) error {
	entries, err := d.mapping(v, "verify.gates", "a mapping of gate names to thresholds, such as {p99: x1.3}")
	if err != nil {
		return err
	}
	dst.Gates = nil
	for _, e := range entries {
		name, err := d.key(e)
		if err != nil {
			return err
		}
		if !slices.Contains(gateNames, name) {
			return d.errorf(e.Key, "%s", yamlfile.UnknownKey("gate", name, "verify.gates", gateNames))
		}
		full := "verify.gates." + name
		s, ok, err := d.scalar(e.Value, full, "a threshold")
		if err != nil {
			return err
		}
		if !ok {
			return d.errorf(e.Key, "%s: no threshold; write one or remove the gate", full)
		}
		if err := checkGate(name, s); err != nil {
			return d.errorf(e.Value, "%s: %v", full, err)
		}
		if dst.Gates == nil {
			dst.Gates = map[string]string{}
		}
		dst.Gates[name] = s
	}
	return nil
}

// checkGate checks the form of a gate's threshold; the rollout interprets it.
func checkGate(name, s string) error {
	switch name {
	case GateErrorRate:
		if _, err := parsePercent(strings.TrimPrefix(s, "+")); err != nil {
			return fmt.Errorf("%q is not a rise of the error rate; write it like +1%%", s)
		}
	case GateDiffRate, GateBots:
		if _, err := parsePercent(s); err != nil {
			return err
		}
	case GateP50, GateP95, GateP99:
		if ratio, ok := strings.CutPrefix(s, "x"); ok && isPlainNumber(ratio) {
			if f, _ := strconv.ParseFloat(ratio, 64); f >= 1 {
				return nil
			}
			return fmt.Errorf("%q would require the candidate to be faster than live; use x1 or more", s)
		}
		if rise, ok := strings.CutPrefix(s, "+"); ok {
			if d, err := time.ParseDuration(rise); err == nil && d >= 0 {
				return nil
			}
		}
		return fmt.Errorf("%q is not a latency threshold; write x1.3 (at most 1.3 times live's %s) or +50ms", s, name)
	}
	return nil
}
