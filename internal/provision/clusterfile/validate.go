package clusterfile

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prosperhq/prosper/internal/yamlfile"
)

// Limits that catch typos ("count: 300" for 30) without getting in a real cluster's way.
const (
	maxPoolCount = 500
	maxStandby   = 100
)

// Locations maps each Hetzner Cloud location to its network zone; a private network,
// and so a cluster, lives in one zone.
var Locations = map[string]string{
	"fsn1": "eu-central", "nbg1": "eu-central", "hel1": "eu-central",
	"ash": "us-east", "hil": "us-west", "sin": "ap-southeast",
}

// k3s's own pod and service networks: a node network overlapping them breaks routing.
var k3sNetworks = []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16"), netip.MustParsePrefix("10.43.0.0/16")}

var (
	dnsLabel   = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	k3sVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+\+k3s[0-9]+$`)
	labelName  = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$`)
	labelPre   = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
)

// validate checks what decoding alone cannot, fills the defaults that depend on
// other settings, and reports the first problem at the position of the setting.
func (d *decoder) validate(c *Cluster) error {
	for _, check := range []func(*Cluster) error{
		d.checkHeader, d.checkProvider, d.checkK3s, d.checkControlPlane, d.checkPools,
		d.checkHosts, d.checkNetwork, d.checkFirewall, d.checkSSHKeys, d.checkPlatform,
	} {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

// at returns an *Error at the value of the setting path, or at the nearest enclosing
// setting the file has when it does not have this one (a missing required field).
func (d *decoder) at(path, format string, args ...any) *Error {
	for p := path; ; p = parent(p) {
		if n, ok := d.values[p]; ok {
			if p != path {
				if k, ok := d.keys[p]; ok {
					n = k // point at "metadata:" rather than at its first child
				}
			}
			return d.errorf(n, format, args...)
		}
		if p == "" {
			return &Error{File: d.file, Line: 1, Column: 1, Msg: fmt.Sprintf(format, args...)}
		}
	}
}

// atKey returns an *Error at the key of the setting path.
func (d *decoder) atKey(path, format string, args ...any) *Error {
	if k, ok := d.keys[path]; ok {
		return d.errorf(k, format, args...)
	}
	return d.at(path, format, args...)
}

// parent strips the last element of a path: "spec.pools[1].name" → "spec.pools[1]"
// → "spec.pools" → "spec" → "".
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func (d *decoder) has(path string) bool { _, ok := d.values[path]; return ok }

func (d *decoder) checkHeader(c *Cluster) error {
	if !d.has("apiVersion") {
		return d.at("", "apiVersion is missing; start the file with \"apiVersion: %s\"", APIVersion)
	}
	if c.APIVersion != APIVersion {
		return d.at("apiVersion", "apiVersion %q is not one this prosper reads; use %q", c.APIVersion, APIVersion)
	}
	if !d.has("kind") {
		return d.at("", "kind is missing; add \"kind: %s\"", Kind)
	}
	if c.Kind != Kind {
		return d.at("kind", "kind %q is not a cluster file; use %q", c.Kind, Kind)
	}
	name := c.Metadata.Name
	if name == "" {
		return d.at("metadata.name", "metadata.name is missing; name the cluster, e.g. \"name: acme-prod\"")
	}
	if !dnsLabel.MatchString(name) || len(name) > 40 {
		return d.at("metadata.name", "metadata.name: %q is not a valid cluster name; use at most 40 lower-case letters, digits and \"-\", starting with a letter", name)
	}
	return nil
}

func (d *decoder) checkProvider(c *Cluster) error {
	p := &c.Spec.Provider
	switch {
	case p.Hetzner == nil && p.SSH == nil:
		return d.at("spec.provider", "spec.provider: choose one provider, hetzner or ssh")
	case p.Hetzner != nil && p.SSH != nil:
		return d.atKey("spec.provider.ssh", "spec.provider: choose one provider, hetzner or ssh, not both")
	case p.Hetzner != nil:
		return d.checkHetzner(c, p.Hetzner)
	}
	s := p.SSH
	if s.User == "" {
		s.User = DefaultSSHUser
	}
	if s.Port == 0 && !d.has("spec.provider.ssh.port") {
		s.Port = DefaultSSHPort
	}
	if s.Port < 1 || s.Port > 65535 {
		return d.at("spec.provider.ssh.port", "spec.provider.ssh.port: %d is not a port; use 1 to 65535", s.Port)
	}
	if len(s.Hosts) == 0 {
		return d.at("spec.provider.ssh.hosts", "spec.provider.ssh.hosts: list the machines, e.g. [{address: 10.0.0.5, pool: %s}]", PoolControlPlane)
	}
	// Machines exist already: there is nothing to size.
	if d.has("spec.controlPlane.serverType") {
		return d.atKey("spec.controlPlane.serverType", "spec.controlPlane.serverType applies to the hetzner provider only; remove it")
	}
	for i := range c.Spec.Pools {
		if path := fmt.Sprintf("spec.pools[%d].serverType", i); d.has(path) {
			return d.atKey(path, "%s applies to the hetzner provider only; remove it", path)
		}
	}
	return nil
}

func (d *decoder) checkHetzner(c *Cluster, h *Hetzner) error {
	const path = "spec.provider.hetzner"
	if h.Locations == nil {
		h.Locations = []string{"fsn1"}
	}
	if len(h.Locations) == 0 {
		return d.at(path+".locations", "%s.locations: name at least one location, e.g. [fsn1]", path)
	}
	known := slices.Sorted(maps.Keys(Locations))
	for i, loc := range h.Locations {
		lp := fmt.Sprintf("%s.locations[%d]", path, i)
		zone, ok := Locations[loc]
		if !ok {
			msg := fmt.Sprintf("%s: unknown location %q", lp, loc)
			if s := yamlfile.Closest(loc, known); s != "" {
				return d.at(lp, "%s (did you mean %q?)", msg, s)
			}
			return d.at(lp, "%s; known locations are %s", msg, strings.Join(known, ", "))
		}
		if slices.Index(h.Locations, loc) < i {
			return d.at(lp, "%s: %s is listed twice", lp, loc)
		}
		if h.NetworkZone == "" {
			h.NetworkZone = zone
		}
		if zone != h.NetworkZone {
			return d.at(lp, "%s: %s is in network zone %s, not %s; a cluster's private network spans one zone", lp, loc, zone, h.NetworkZone)
		}
	}
	if h.Image == "" {
		h.Image = DefaultImage
	}
	if c.Spec.ControlPlane.ServerType == "" {
		c.Spec.ControlPlane.ServerType = DefaultControlServerType
	}
	for i := range c.Spec.Pools {
		if c.Spec.Pools[i].ServerType == "" {
			c.Spec.Pools[i].ServerType = DefaultPoolServerType
		}
	}
	return nil
}

func (d *decoder) checkK3s(c *Cluster) error {
	v := c.Spec.K3s.Version
	if !k3sVersion.MatchString(v) {
		return d.at("spec.k3s.version", "spec.k3s.version: %q is not a k3s release; write it as k3s tags it, e.g. %q", v, DefaultK3sVersion)
	}
	return nil
}

func (d *decoder) checkControlPlane(c *Cluster) error {
	if n := c.Spec.ControlPlane.Count; n != 1 && n != 3 {
		return d.at("spec.controlPlane.count", "spec.controlPlane.count: %d control planes; use 1, or 3 for high availability (etcd needs an odd number, and more than 3 only slows it)", n)
	}
	if n := c.Spec.Standby; n < 0 || n > maxStandby {
		return d.at("spec.standby", "spec.standby: %d is out of range; use 0 to %d", n, maxStandby)
	}
	return nil
}

func (d *decoder) checkPools(c *Cluster) error {
	reserved := []string{PoolControlPlane, PoolStandby, "cp"}
	platform := 0
	for i, p := range c.Spec.Pools {
		path := fmt.Sprintf("spec.pools[%d]", i)
		switch {
		case p.Name == "":
			return d.at(path+".name", "%s.name is missing; name the pool, e.g. \"name: workers\"", path)
		case !dnsLabel.MatchString(p.Name):
			return d.at(path+".name", "%s.name: %q is not a valid pool name; use lower-case letters, digits and \"-\", starting with a letter", path, p.Name)
		case slices.Contains(reserved, p.Name):
			return d.at(path+".name", "%s.name: %q is reserved for prosper's own nodes; choose another name", path, p.Name)
		}
		// Hetzner and Kubernetes both take node names as DNS labels.
		if longest := nodeName(c.Metadata.Name, p.Name, max(p.Count, 1)); len(longest) > 63 {
			return d.at(path+".name", "%s.name: node names such as %q would pass 63 characters; shorten the pool or cluster name", path, longest)
		}
		for j := range i {
			if c.Spec.Pools[j].Name == p.Name {
				return d.at(path+".name", "%s.name: a pool named %q is already defined; pool names must differ", path, p.Name)
			}
		}
		if p.Count < 0 || p.Count > maxPoolCount {
			return d.at(path+".count", "%s.count: %d is out of range; use 0 to %d", path, p.Count, maxPoolCount)
		}
		if p.Platform {
			platform++
			if platform > 1 {
				return d.at(path+".platform", "%s.platform: only one pool can be the platform pool", path)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
			if err := checkLabel(k, p.Labels[k]); err != nil {
				return d.atKey(path+".labels."+k, "%s.labels: %v", path, err)
			}
		}
	}
	return nil
}

// checkLabel applies Kubernetes' rules for a label, and keeps prosper's own prefix
// for prosper.
func checkLabel(key, value string) error {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		prefix, name = "", key
	}
	switch {
	case hasPrefix && (prefix == "" || len(prefix) > 253 || !labelPre.MatchString(prefix)):
		return fmt.Errorf("%q has an invalid prefix; a prefix is a DNS name such as example.com", key)
	case prefix == "prosper.dev" || strings.HasSuffix(prefix, ".prosper.dev"):
		return fmt.Errorf("%q uses the prefix prosper.dev, which prosper keeps for its own labels", key)
	case name == "" || len(name) > 63 || !labelName.MatchString(name):
		return fmt.Errorf("%q is not a valid label name; use at most 63 letters, digits, \"-\", \"_\" and \".\"", key)
	case len(value) > 63 || !labelName.MatchString(value):
		return fmt.Errorf("%s: %q is not a valid label value; use at most 63 letters, digits, \"-\", \"_\" and \".\"", key, value)
	}
	return nil
}

// checkHosts checks that the ssh provider has a machine for every node.
func (d *decoder) checkHosts(c *Cluster) error {
	s := c.Spec.Provider.SSH
	if s == nil {
		return nil
	}
	want := map[string]int{PoolControlPlane: c.Spec.ControlPlane.Count, PoolStandby: c.Spec.Standby}
	order := []string{PoolControlPlane}
	for _, p := range c.Spec.Pools {
		want[p.Name] = p.Count
		order = append(order, p.Name)
	}
	order = append(order, PoolStandby)
	have := map[string]int{}
	for i, h := range s.Hosts {
		path := fmt.Sprintf("spec.provider.ssh.hosts[%d]", i)
		if h.Address == "" {
			return d.at(path+".address", "%s.address is missing; give the machine's IP address or host name", path)
		}
		if strings.ContainsAny(h.Address, " /@:") && !isIP(h.Address) {
			return d.at(path+".address", "%s.address: %q is not an IP address or host name (the user and port go in spec.provider.ssh)", path, h.Address)
		}
		for j := range i {
			if s.Hosts[j].Address == h.Address {
				return d.at(path+".address", "%s.address: %s is listed twice; a machine is one node", path, h.Address)
			}
		}
		if _, ok := want[h.Pool]; !ok {
			if h.Pool == "" {
				return d.at(path+".pool", "%s.pool is missing; say where the machine serves: %s", path, strings.Join(order, ", "))
			}
			msg := fmt.Sprintf("%s.pool: no pool is named %q", path, h.Pool)
			if s := yamlfile.Closest(h.Pool, order); s != "" {
				return d.at(path+".pool", "%s (did you mean %q?)", msg, s)
			}
			return d.at(path+".pool", "%s; pools are %s", msg, strings.Join(order, ", "))
		}
		have[h.Pool]++
	}
	for _, pool := range order {
		if have[pool] < want[pool] {
			return d.at("spec.provider.ssh.hosts", "spec.provider.ssh.hosts: pool %s needs %d machines and the list gives it %d; add hosts with \"pool: %s\" or lower the count", pool, want[pool], have[pool], pool)
		}
	}
	return nil
}

func isIP(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

func (d *decoder) checkNetwork(c *Cluster) error {
	const path = "spec.network.cidr"
	p, err := netip.ParsePrefix(c.Spec.Network.CIDR)
	if err != nil {
		return d.at(path, "%s: %q is not a network such as %s", path, c.Spec.Network.CIDR, DefaultNetworkCIDR)
	}
	if p.Masked() != p {
		return d.at(path, "%s: %s has host bits set; write %s", path, p, p.Masked())
	}
	if !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() > 24 {
		return d.at(path, "%s: %s is not a private IPv4 network of /24 or larger such as %s", path, p, DefaultNetworkCIDR)
	}
	for _, k := range k3sNetworks {
		if k.Overlaps(p) {
			return d.at(path, "%s: %s overlaps %s, which k3s uses for pods and services; choose another range such as %s", path, p, k, DefaultNetworkCIDR)
		}
	}
	return nil
}

func (d *decoder) checkFirewall(c *Cluster) error {
	if c.Spec.Firewall == nil && c.Spec.Provider.SSH == nil {
		// The ssh provider manages no firewall: the hosts' own rules apply.
		world := []string{"0.0.0.0/0", "::/0"}
		c.Spec.Firewall = []Rule{{Port: "22", Sources: world}, {Port: "6443", Sources: world}}
		c.warnings = append(c.warnings, "spec.firewall is not set: SSH (22) and the Kubernetes API (6443) are open to the whole internet; list the networks that need them")
		return nil
	}
	ssh := false
	for i, r := range c.Spec.Firewall {
		path := fmt.Sprintf("spec.firewall[%d]", i)
		lo, hi, err := parsePorts(r.Port)
		if err != nil {
			return d.at(path+".port", "%s.port: %v", path, err)
		}
		if len(r.Sources) == 0 {
			return d.at(path+".sources", "%s.sources: list the networks allowed in, e.g. [203.0.113.0/24]", path)
		}
		for j, src := range r.Sources {
			sp := fmt.Sprintf("%s.sources[%d]", path, j)
			p, err := netip.ParsePrefix(src)
			if err != nil {
				if a, aerr := netip.ParseAddr(src); aerr == nil {
					return d.at(sp, "%s: %q is an address, not a network; write %s/%d", sp, src, a, a.BitLen())
				}
				return d.at(sp, "%s: %q is not a network such as 203.0.113.0/24", sp, src)
			}
			if p.Masked() != p {
				return d.at(sp, "%s: %s has host bits set; write %s", sp, p, p.Masked())
			}
		}
		ssh = ssh || (lo <= 22 && 22 <= hi)
	}
	if !ssh && c.Spec.Provider.SSH == nil {
		c.warnings = append(c.warnings, "spec.firewall opens no rule to port 22: prosper installs nodes over SSH and needs to reach it")
	}
	return nil
}

// parsePorts reads "80" or "30000-32767".
func parsePorts(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	switch {
	case s == "":
		return 0, 0, fmt.Errorf("the port is missing; write \"443\" or a range \"30000-32767\"")
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("%q is not a port; write \"443\" or a range \"30000-32767\"", s)
	case lo < 1 || hi > 65535:
		return 0, 0, fmt.Errorf("%q is out of range; ports go from 1 to 65535", s)
	case lo > hi:
		return 0, 0, fmt.Errorf("%q starts after it ends; write \"%d-%d\"", s, hi, lo)
	}
	return lo, hi, nil
}

func (d *decoder) checkSSHKeys(c *Cluster) error {
	for i, k := range c.Spec.SSHKeys {
		path := fmt.Sprintf("spec.sshKeys[%d]", i)
		switch {
		case strings.TrimSpace(k) == "":
			return d.at(path, "%s is empty; give a public key file such as ~/.ssh/id_ed25519.pub", path)
		case strings.HasPrefix(k, "ssh-") || strings.HasPrefix(k, "ecdsa-"):
			// The key itself, as in authorized_keys.
		case !strings.HasSuffix(k, ".pub"):
			return d.at(path, "%s: %q looks like a private key; give the public one, %s.pub", path, k, k)
		}
	}
	return nil
}

// imageRef is an image reference pinned by tag or digest:
// HOST[:PORT]/PATH:TAG or HOST[:PORT]/PATH@sha256:DIGEST.
var imageRef = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$`)

func (d *decoder) checkPlatform(c *Cluster) error {
	if ref := c.Spec.Platform.ProsperImage; ref != "" {
		const path = "spec.platform.prosperImage"
		if !c.Spec.Platform.Registry {
			return d.atKey(path, "%s: prosper runs on the cluster only with the platform's registry, for its release images; enable registry or remove prosperImage", path)
		}
		if !imageRef.MatchString(ref) {
			return d.at(path, "%s: %q is not an image pinned by tag or digest, such as ghcr.io/acme/prosper:v1.2.0 or ghcr.io/acme/prosper@sha256:...", path, ref)
		}
	}
	b := c.Spec.Platform.Postgres.Backup
	if b == nil {
		return nil
	}
	const path = "spec.platform.postgres.backup.s3"
	if !c.Spec.Platform.Postgres.Enabled {
		return d.atKey("spec.platform.postgres.backup", "spec.platform.postgres.backup: postgres is disabled; remove the backup or enable postgres")
	}
	if b.S3.Endpoint == "" {
		return d.at(path+".endpoint", "%s.endpoint is missing; give the storage's URL, e.g. https://fsn1.your-objectstorage.com", path)
	}
	if u, err := url.Parse(b.S3.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return d.at(path+".endpoint", "%s.endpoint: %q is not a URL such as https://fsn1.your-objectstorage.com", path, b.S3.Endpoint)
	}
	if b.S3.Bucket == "" {
		return d.at(path+".bucket", "%s.bucket is missing; name the bucket backups go to", path)
	}
	return nil
}
