package provision

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// K3sRole is what a node is in the k3s cluster.
type K3sRole string

// Roles of k3s nodes.
const (
	K3sFirstServer K3sRole = "server-init" // the first control plane: --cluster-init (embedded etcd)
	K3sServer      K3sRole = "server"      // a further control plane joining the first
	K3sAgent       K3sRole = "agent"       // a worker
)

// K3sInstall describes the installation of k3s on one node. The binary is never
// downloaded by the node from an unpinned URL: it is uploaded by prosper (which
// fetched and checked it once) or, online, fetched from the release URL of the
// pinned version and checked against the pinned SHA-256 before it is used.
type K3sInstall struct {
	Version   string  // pinned, e.g. "v1.31.4+k3s1"
	SHA256    string  // of the k3s binary of that version for the node's architecture
	Role      K3sRole //
	NodeName  string
	NodeIP    string // private address the cluster traffic uses
	ServerURL string // https://FIRST-SERVER:6443, for joining roles
	Token     string // the cluster's join token
	Labels    map[string]string
	Taints    []string // "key=value:Effect"
	// Uploaded is the path where prosper already put the binary (air-gapped
	// mode); empty means download the pinned version.
	Uploaded string
	// URL is where the node downloads the binary when nothing was uploaded;
	// empty means the pinned version on GitHub's k3s releases.
	URL string
	// TLSSANs are further names and addresses the API server's certificate
	// covers, such as the public address the kubeconfig points at.
	TLSSANs []string
	// ExternalCloudProvider hands node initialisation, load balancers and
	// routes to the cloud's own controller manager (Hetzner's, installed with
	// the platform): the servers run without k3s's embedded one and every
	// kubelet waits for the external one.
	ExternalCloudProvider bool
	// Registries is /etc/rancher/k3s/registries.yaml: where the node's
	// containerd pulls images named after a mirror (the platform's registry,
	// platform.RegistriesYAML). Empty leaves the node without one.
	Registries string
}

var (
	versionRE = regexp.MustCompile(`^v1\.\d+\.\d+\+k3s\d+$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	nameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// Validate reports what is wrong with the install, so a bad value never reaches
// a node's shell.
func (k K3sInstall) Validate() error {
	var errs []string
	if !versionRE.MatchString(k.Version) {
		errs = append(errs, fmt.Sprintf("k3s version %q: want a pinned release such as v1.31.4+k3s1", k.Version))
	}
	if !sha256RE.MatchString(k.SHA256) {
		errs = append(errs, "the k3s binary's SHA-256 must be 64 lower-case hex digits")
	}
	if !nameRE.MatchString(k.NodeName) {
		errs = append(errs, fmt.Sprintf("node name %q is not a DNS label", k.NodeName))
	}
	switch k.Role {
	case K3sFirstServer:
	case K3sServer, K3sAgent:
		if !strings.HasPrefix(k.ServerURL, "https://") {
			errs = append(errs, fmt.Sprintf("%s %s needs the first server's URL (https://HOST:6443)", k.Role, k.NodeName))
		}
	default:
		errs = append(errs, fmt.Sprintf("k3s role %q: want server-init, server or agent", k.Role))
	}
	if len(k.Token) < 16 || strings.ContainsAny(k.Token, "'\"\\ \n$`") {
		errs = append(errs, "the join token must be at least 16 characters without quotes, spaces or $")
	}
	if k.URL != "" && (!strings.HasPrefix(k.URL, "https://") && !strings.HasPrefix(k.URL, "http://") || strings.ContainsAny(k.URL, "'\"\\ \n$`")) {
		errs = append(errs, fmt.Sprintf("k3s download URL %q: want an http(s) URL without quotes or spaces", k.URL))
	}
	for _, san := range k.TLSSANs {
		if !regexp.MustCompile(`^[A-Za-z0-9.:-]+$`).MatchString(san) {
			errs = append(errs, fmt.Sprintf("TLS name %q: want a host name or an IP address", san))
		}
	}
	for key, v := range k.Labels {
		if strings.ContainsAny(key+v, "'\"\\ \n$`,") {
			errs = append(errs, fmt.Sprintf("label %s=%s has characters a node label cannot have", key, v))
		}
	}
	for _, t := range k.Taints {
		if !regexp.MustCompile(`^[a-z0-9./-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)$`).MatchString(t) {
			errs = append(errs, fmt.Sprintf("taint %q: write key=value:NoSchedule", t))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("k3s install of %s: %s", k.NodeName, strings.Join(errs, "; "))
	}
	return nil
}

// Script returns the shell script that installs and starts k3s on the node, run
// as root over SSH. It is idempotent: a node where that version already runs
// with the same configuration is left alone, so a create run again converges.
func (k K3sInstall) Script() (string, error) {
	if err := k.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("set -eu\n")
	b.WriteString("want_version='" + k.Version + "'\nwant_sha='" + k.SHA256 + "'\n")
	if k.Uploaded != "" {
		b.WriteString("src='" + k.Uploaded + "'\n")
	} else {
		url := k.URL
		if url == "" {
			url = "https://github.com/k3s-io/k3s/releases/download/" + strings.ReplaceAll(k.Version, "+", "%2B") + "/k3s"
		}
		b.WriteString("src=/usr/local/bin/k3s.download\n")
		b.WriteString("if [ ! -x /usr/local/bin/k3s ] || [ \"$(sha256sum /usr/local/bin/k3s | cut -d' ' -f1)\" != \"$want_sha\" ]; then\n")
		b.WriteString("  curl -sfL --retry 5 -o \"$src\" '" + url + "'\nfi\n")
	}
	// Check before use, then install atomically. The source is removed
	// either way: a stale one (a partial download of an interrupted
	// upgrade) must not fail a later run whose k3s is already right.
	b.WriteString(`if [ -f "$src" ]; then
  got=$(sha256sum "$src" | cut -d' ' -f1)
  if [ "$got" != "$want_sha" ]; then
    rm -f "$src"
    if [ "$(sha256sum /usr/local/bin/k3s 2>/dev/null | cut -d' ' -f1)" != "$want_sha" ]; then
      echo "k3s binary checksum mismatch: got $got, want $want_sha" >&2; exit 3
    fi
  else
    install -m 0755 "$src" /usr/local/bin/k3s.new && mv /usr/local/bin/k3s.new /usr/local/bin/k3s
    rm -f "$src"
  fi
fi
`)
	b.WriteString("mkdir -p /etc/rancher/k3s\ncat > /etc/rancher/k3s/config.yaml.new <<'PROSPER_EOF'\n")
	b.WriteString(k.config())
	b.WriteString("PROSPER_EOF\n")
	b.WriteString(`changed=1
if [ -f /etc/rancher/k3s/config.yaml ] && cmp -s /etc/rancher/k3s/config.yaml /etc/rancher/k3s/config.yaml.new; then changed=0; fi
mv /etc/rancher/k3s/config.yaml.new /etc/rancher/k3s/config.yaml
`)
	if k.Registries != "" {
		// containerd reads it at start: a change restarts k3s like a config change.
		b.WriteString("cat > /etc/rancher/k3s/registries.yaml.new <<'PROSPER_EOF'\n")
		b.WriteString(k.Registries)
		b.WriteString("PROSPER_EOF\n")
		b.WriteString(`if ! cmp -s /etc/rancher/k3s/registries.yaml /etc/rancher/k3s/registries.yaml.new 2>/dev/null; then changed=1; fi
mv /etc/rancher/k3s/registries.yaml.new /etc/rancher/k3s/registries.yaml
`)
	} else {
		b.WriteString("if [ -f /etc/rancher/k3s/registries.yaml ]; then rm -f /etc/rancher/k3s/registries.yaml; changed=1; fi\n")
	}
	unit := "k3s"
	cmd := "server"
	if k.Role == K3sAgent {
		unit, cmd = "k3s-agent", "agent"
	}
	fmt.Fprintf(&b, `cat > /etc/systemd/system/%[1]s.service.new <<'PROSPER_EOF'
[Unit]
Description=k3s %[2]s (installed by prosper)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
ExecStart=/usr/local/bin/k3s %[2]s
KillMode=process
Delegate=yes
LimitNOFILE=1048576
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
PROSPER_EOF
if ! cmp -s /etc/systemd/system/%[1]s.service /etc/systemd/system/%[1]s.service.new 2>/dev/null; then changed=1; fi
mv /etc/systemd/system/%[1]s.service.new /etc/systemd/system/%[1]s.service
systemctl daemon-reload
systemctl enable %[1]s >/dev/null
running=$(/usr/local/bin/k3s --version 2>/dev/null | head -n1 | cut -d' ' -f3 || true)
if [ "$changed" = 1 ] || [ "$running" != "$want_version" ] || ! systemctl is-active --quiet %[1]s; then
  systemctl restart %[1]s
fi
echo "k3s $want_version %[2]s on %[3]s: ok"
`, unit, cmd, k.NodeName)
	return b.String(), nil
}

// config renders /etc/rancher/k3s/config.yaml, in a stable order.
func (k K3sInstall) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node-name: %s\n", k.NodeName)
	if k.NodeIP != "" {
		fmt.Fprintf(&b, "node-ip: %s\n", k.NodeIP)
	}
	fmt.Fprintf(&b, "token: %s\n", k.Token)
	switch k.Role {
	case K3sFirstServer:
		b.WriteString("cluster-init: true\n")
	default:
		fmt.Fprintf(&b, "server: %s\n", k.ServerURL)
	}
	if k.Role != K3sAgent {
		b.WriteString("write-kubeconfig-mode: \"0600\"\n")
		if len(k.TLSSANs) > 0 {
			b.WriteString("tls-san:\n")
			for _, san := range k.TLSSANs {
				fmt.Fprintf(&b, "  - %s\n", san)
			}
		}
		// The platform brings its own router behind the ingress; k3s keeps
		// Traefik as the cluster's ingress.
		if k.ExternalCloudProvider {
			// Hetzner's CSI driver gives the default StorageClass; k3s's
			// local-path one would be a second default.
			b.WriteString("disable: [servicelb, local-storage]\n")
		} else {
			b.WriteString("disable: [servicelb]\n")
		}
		if k.ExternalCloudProvider {
			b.WriteString("disable-cloud-controller: true\n")
		}
	}
	if k.ExternalCloudProvider {
		b.WriteString("kubelet-arg:\n  - cloud-provider=external\n")
	}
	if len(k.Labels) > 0 {
		keys := make([]string, 0, len(k.Labels))
		for key := range k.Labels {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		b.WriteString("node-label:\n")
		for _, key := range keys {
			fmt.Fprintf(&b, "  - %s=%s\n", key, k.Labels[key])
		}
	}
	if len(k.Taints) > 0 {
		b.WriteString("node-taint:\n")
		for _, t := range k.Taints {
			fmt.Fprintf(&b, "  - %s\n", t)
		}
	}
	return b.String()
}

// K3sUninstallScript returns the shell script that removes what Script
// installed, run as root over SSH: it stops and disables the k3s unit (server
// or agent, whichever is there), removes the unit files, the binary, the
// configuration and the cluster data. It is idempotent: on a node without k3s
// it does nothing and succeeds, so a delete run again converges.
func K3sUninstallScript() string {
	return `set -u
have_systemctl=0
if command -v systemctl >/dev/null 2>&1; then have_systemctl=1; fi
for unit in k3s k3s-agent; do
  if [ -f /etc/systemd/system/$unit.service ]; then
    if [ "$have_systemctl" = 1 ]; then
      systemctl stop $unit || true
      systemctl disable $unit >/dev/null 2>&1 || true
    fi
    rm -f /etc/systemd/system/$unit.service /etc/systemd/system/$unit.service.new
  fi
done
if [ "$have_systemctl" = 1 ]; then systemctl daemon-reload || true; fi
rm -f /usr/local/bin/k3s /usr/local/bin/k3s.new /usr/local/bin/k3s.download
rm -rf /etc/rancher/k3s /var/lib/rancher/k3s
echo "k3s removed"
`
}
