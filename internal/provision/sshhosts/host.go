package sshhosts

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// MarkerPath is the file that marks a host as a node of a cluster. It says
// which cluster and node, and which key prosper authorized, so that a delete
// removes exactly that line.
const MarkerPath = "/var/lib/prosper/cluster"

// marker is the content of MarkerPath.
type marker struct {
	Cluster, Node, Key string
}

func parseMarker(s string) (marker, bool) {
	var m marker
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "cluster":
			m.Cluster = v
		case "node":
			m.Node = v
		case "key":
			m.Key = v
		}
	}
	return m, m.Cluster != ""
}

func (m marker) String() string {
	return "# This host is a node of a cluster created by prosper. To free it, run\n" +
		"# \"prosper cluster delete\" with that cluster's file (or remove this node with scale).\n" +
		"cluster=" + m.Cluster + "\nnode=" + m.Node + "\nkey=" + m.Key + "\n"
}

// taken is the error for a host another cluster uses.
func taken(m marker) error {
	return fmt.Errorf("it is node %s of cluster %s (see %s); free it with \"prosper cluster delete\" of cluster %s, "+
		"or, if that cluster is gone, uninstall k3s there and remove %s", m.Node, m.Cluster, MarkerPath, m.Cluster, MarkerPath)
}

// keyLine checks an authorized_keys line and returns it rebuilt from its
// parts (so nothing but a key and a plain comment reaches a shell) and the
// "type base64" part that identifies it.
var commentRE = regexp.MustCompile(`^[A-Za-z0-9@._+-]*$`)

func keyLine(authorizedKey string) (line, blob string, err error) {
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return "", "", fmt.Errorf("the cluster key %q: %w", authorizedKey, err)
	}
	blob = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	line = blob
	if comment != "" && commentRE.MatchString(comment) {
		line += " " + comment
	}
	return line, blob, nil
}

// asRoot runs script as root: directly when logged in as root, else with
// sudo, which must not ask for a password.
func asRoot(user, script string) string {
	if user == "root" {
		return script
	}
	return "sudo -n sh -c " + quote(script)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// readMarker returns the host's marker, if it has one.
func readMarker(ctx context.Context, c *sshx.Client) (marker, bool, error) {
	out, err := c.Output(ctx, "cat "+MarkerPath+" 2>/dev/null || true")
	if err != nil {
		return marker{}, false, fmt.Errorf("read %s: %w", MarkerPath, err)
	}
	m, ok := parseMarker(out)
	return m, ok, nil
}

// authorize appends line to the login user's authorized_keys unless a line
// with that key is there, and writes the marker.
func authorize(ctx context.Context, c *sshx.Client, user string, m marker, line, blob string) error {
	script := `set -eu
umask 077
mkdir -p ~/.ssh
f=~/.ssh/authorized_keys
touch "$f"
if ! grep -qF ` + quote(blob) + ` "$f"; then
  if [ -s "$f" ] && [ "$(tail -c 1 "$f")" != "" ]; then echo >> "$f"; fi
  printf '%s\n' ` + quote(line) + ` >> "$f"
fi`
	if _, err := c.Output(ctx, script); err != nil {
		return fmt.Errorf("authorize the cluster key: %w", err)
	}
	write := "set -eu; mkdir -p /var/lib/prosper; printf '%s' " + quote(m.String()) + " > " + MarkerPath + ".new; " +
		"chmod 0644 " + MarkerPath + ".new; mv -f " + MarkerPath + ".new " + MarkerPath
	if _, err := c.Output(ctx, asRoot(user, write)); err != nil {
		return fmt.Errorf("write %s: %w", MarkerPath, err)
	}
	return nil
}

// cleanup uninstalls k3s, removes the key the marker names and then the
// marker, so that a failure midway leaves the host marked for a retry.
func cleanup(ctx context.Context, c *sshx.Client, user string, m marker) error {
	if _, err := c.Output(ctx, asRoot(user, provision.K3sUninstallScript())); err != nil {
		return fmt.Errorf("uninstall k3s: %w", err)
	}
	if _, blob, err := keyLine(m.Key); err == nil {
		script := `set -eu
f=~/.ssh/authorized_keys
if [ -f "$f" ] && grep -qF ` + quote(blob) + ` "$f"; then
  grep -vF ` + quote(blob) + ` "$f" > "$f.prosper-tmp" || true
  cat "$f.prosper-tmp" > "$f"
  rm -f "$f.prosper-tmp"
fi`
		if _, err := c.Output(ctx, script); err != nil {
			return fmt.Errorf("remove the cluster key: %w", err)
		}
	}
	if _, err := c.Output(ctx, asRoot(user, "rm -f "+MarkerPath)); err != nil {
		return fmt.Errorf("remove %s: %w", MarkerPath, err)
	}
	return nil
}
