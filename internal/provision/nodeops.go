package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// Paths on the nodes.
const (
	uploadedK3s   = "/usr/local/bin/k3s.upload"
	installScript = "/root/.prosper/install-k3s.sh"
	imagesDir     = "/var/lib/rancher/k3s/agent/images"
)

// client returns the SSH connection to a node's machine, dialling once.
func (e *Engine) client(ctx context.Context, name string) (*sshx.Client, error) {
	e.mu.Lock()
	c := e.clients[name]
	e.mu.Unlock()
	if c != nil {
		return c, nil
	}
	m, err := e.machine(name)
	if err != nil {
		return nil, err
	}
	kh, err := e.State.KnownHosts()
	if err != nil {
		return nil, err
	}
	c, err = sshx.WaitForSSH(ctx, sshx.Config{Addr: m.SSHAddr, User: m.SSHUser, Signer: e.signer, HostKeyCallback: kh.Callback()}, e.SSHWait)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clients == nil {
		e.clients = map[string]*sshx.Client{}
	}
	if old := e.clients[name]; old != nil {
		c.Close()
		return old, nil
	}
	e.clients[name] = c
	return c, nil
}

func (e *Engine) waitSSH(ctx context.Context, p *Progress, n clusterfile.Node) error {
	started := time.Now()
	if _, err := e.client(ctx, n.Name); err != nil {
		return err
	}
	m, _ := e.machine(n.Name)
	p.Node(n.Name, "SSH %s up after %s", m.SSHAddr, time.Since(started).Round(100*time.Millisecond))
	return nil
}

// waitCloudInit waits for cloud-init where it runs, so that prosper's work
// never races with the packages and files cloud-init is still writing (a top
// complaint about other tools). Exit 2 is "done, with recoverable errors".
func (e *Engine) waitCloudInit(ctx context.Context, p *Progress, n clusterfile.Node) error {
	c, err := e.client(ctx, n.Name)
	if err != nil {
		return err
	}
	limit := orDefault(e.CloudInitTimeout, 10*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	out, stderr, code, err := c.Run(ctx, `command -v cloud-init >/dev/null 2>&1 || { echo absent; exit 0; }; cloud-init status --wait >/dev/null; s=$?; [ $s -eq 0 ] || [ $s -eq 2 ] || exit $s; echo done`)
	if ctx.Err() != nil {
		last, _, _, _ := e.mustClient(n.Name).Run(context.Background(), "cloud-init status 2>&1 | tail -n1")
		return fmt.Errorf("cloud-init still running after %s (%s)", limit, strings.TrimSpace(last))
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("cloud-init failed (exit %d): %s; see /var/log/cloud-init-output.log on the machine", code, strings.TrimSpace(stderr))
	}
	if strings.TrimSpace(out) == "done" {
		p.Node(n.Name, "cloud-init done")
	}
	return nil
}

func (e *Engine) mustClient(name string) *sshx.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clients[name]
}

func (e *Engine) k3sPlan(nodes []clusterfile.Node) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) {
		k := e.Cluster.Spec.K3s
		what := "nodes download it from the release and check its SHA-256"
		switch {
		case e.K3s.Binary != "":
			what = "upload " + e.K3s.Binary + " to every node that lacks it"
		case k.AirGapped:
			what = "fetch the binary and the images archive once, check them, upload them to every node (air-gapped)"
		}
		return []string{"resolve k3s " + k.Version + " for the nodes' architecture: " + what}, nil
	}
}

// uploadK3s resolves the release for the nodes' architecture and puts the
// binary (and, air-gapped, the images) on every node that lacks it.
func (e *Engine) uploadK3s(nodes []clusterfile.Node) func(context.Context, *Progress) error {
	return func(ctx context.Context, p *Progress) error {
		if len(nodes) == 0 {
			return nil
		}
		c, err := e.client(ctx, nodes[0].Name)
		if err != nil {
			return err
		}
		out, err := c.Output(ctx, "uname -m")
		if err != nil {
			return err
		}
		arch := map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}[strings.TrimSpace(out)]
		if arch == "" {
			return fmt.Errorf("%s runs on %q, which k3s has no release for", nodes[0].Name, strings.TrimSpace(out))
		}
		k := e.Cluster.Spec.K3s
		if e.art, err = e.K3s.Resolve(ctx, k.Version, arch, k.AirGapped); err != nil {
			return err
		}
		p.Node("k3s", "%s %s sha256 %s…", k.Version, arch, e.art.SHA256[:12])
		if e.art.Binary == "" && e.art.Images == "" {
			return nil
		}
		var imagesSHA string
		if e.art.Images != "" {
			if imagesSHA, err = fileSHA256(e.art.Images); err != nil {
				return fmt.Errorf("air-gap images: %w", err)
			}
		}
		return e.forNodes(nodes, func(ctx context.Context, p *Progress, n clusterfile.Node) error {
			c, err := e.client(ctx, n.Name)
			if err != nil {
				return err
			}
			if e.art.Binary != "" {
				have, _ := c.Output(ctx, "sha256sum /usr/local/bin/k3s 2>/dev/null | cut -d' ' -f1")
				if strings.TrimSpace(have) != e.art.SHA256 {
					if err := uploadFile(ctx, c, e.art.Binary, uploadedK3s, 0o755); err != nil {
						return err
					}
					p.Node(n.Name, "k3s binary uploaded")
				}
			}
			if e.art.Images != "" {
				dst := imagesDir + "/" + path.Base(e.art.Images)
				have, _ := c.Output(ctx, "sha256sum "+dst+" 2>/dev/null | cut -d' ' -f1")
				if strings.TrimSpace(have) != imagesSHA {
					if err := uploadFile(ctx, c, e.art.Images, dst, 0o644); err != nil {
						return err
					}
					p.Node(n.Name, "air-gap images uploaded")
				}
			}
			return nil
		})(ctx, p)
	}
}

func uploadFile(ctx context.Context, c *sshx.Client, local, remote string, mode os.FileMode) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.Upload(ctx, f, remote, mode)
}

// install runs the k3s install script on a node; it is idempotent, so an
// unchanged node is left running.
func (e *Engine) install(ctx context.Context, p *Progress, n clusterfile.Node, role K3sRole, first clusterfile.Node) error {
	m, err := e.machine(n.Name)
	if err != nil {
		return err
	}
	fm, err := e.machine(first.Name)
	if err != nil {
		return err
	}
	taints := make([]string, len(n.Taints))
	for i, t := range n.Taints {
		taints[i] = t.String()
	}
	k := K3sInstall{
		Version: e.Cluster.Spec.K3s.Version, SHA256: e.art.SHA256, Role: role, NodeName: n.Name,
		NodeIP: m.PrivateIP, Token: e.token, Labels: n.Labels, Taints: taints,
		// Hetzner's cloud controller manager (a platform chart) initialises the nodes.
		ExternalCloudProvider: e.Cluster.Spec.Provider.Hetzner != nil,
	}
	if e.Cluster.Spec.Platform.Registry {
		// Release images are pulled by the mirror name through the node port.
		k.Registries = platform.RegistriesYAML()
	}
	if role != K3sFirstServer {
		k.ServerURL = "https://" + hostPort(orDefault(fm.PrivateIP, fm.PublicIP), "6443")
	}
	if e.art.Binary != "" {
		k.Uploaded = uploadedK3s
	}
	k.URL = e.art.URL
	if role != K3sAgent && m.PublicIP != "" && m.PublicIP != m.PrivateIP {
		// The kubeconfig points at the first server's public address.
		k.TLSSANs = []string{m.PublicIP}
	}
	script, err := k.Script()
	if err != nil {
		return err
	}
	c, err := e.client(ctx, n.Name)
	if err != nil {
		return err
	}
	if err := c.Upload(ctx, strings.NewReader(script), installScript, 0o700); err != nil {
		return err
	}
	out, stderr, code, err := c.Run(ctx, "sh "+installScript)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("k3s install failed (exit %d): %s", code, lastLines(stderr+out, 5))
	}
	p.Node(n.Name, "%s", lastLines(out, 1))
	return nil
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

// fetchKubeconfig reads the kubeconfig k3s wrote on the first server, points
// it at the server's public address and writes and merges it.
func (e *Engine) fetchKubeconfig(ctx context.Context, p *Progress, first clusterfile.Node) error {
	c, err := e.client(ctx, first.Name)
	if err != nil {
		return err
	}
	m, _ := e.machine(first.Name)
	var raw string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		raw, err = c.Output(ctx, "cat /etc/rancher/k3s/k3s.yaml")
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("k3s wrote no kubeconfig on %s: %w", first.Name, err)
	}
	cfg, err := RewriteKubeconfig([]byte(raw), e.Cluster.Metadata.Name, orDefault(m.PublicIP, m.PrivateIP))
	if err != nil {
		return err
	}
	if err := writeFileAtomic(e.State.Path(kubeconfigFile), cfg, 0o600); err != nil {
		return err
	}
	p.Node(first.Name, "kubeconfig written to %s", e.State.Path(kubeconfigFile))
	if e.Kubeconfig != "" {
		if err := MergeKubeconfig(e.Kubeconfig, cfg); err != nil {
			return err
		}
		p.Node(first.Name, "context %s merged into %s", e.Cluster.Metadata.Name, e.Kubeconfig)
	}
	return nil
}

func (e *Engine) kube() (kubernetes.Interface, error) {
	data, err := os.ReadFile(e.State.Path(kubeconfigFile))
	if err != nil {
		return nil, fmt.Errorf("the cluster's kubeconfig: %w (run \"prosper cluster kubeconfig\")", err)
	}
	return kubeClient(data)
}

func (e *Engine) promote(ctx context.Context, p *Progress, c clusterfile.Cluster, prs []Promotion) error {
	cs, err := e.kube()
	if err != nil {
		return err
	}
	rl := e.Provider.(Relabeler)
	for _, pr := range prs {
		// Kubernetes first: if the provider's label fails, the next run sees
		// a standby machine and promotes it again, which changes nothing.
		if err := promote(ctx, cs, pr); err != nil {
			return err
		}
		if err := rl.SetPool(ctx, c, pr.Node.Name, pr.Node.Pool); err != nil {
			return err
		}
		p.Node(pr.Node.Name, "promoted into pool %s", pr.Node.Pool)
	}
	return nil
}

func (e *Engine) remove(ctx context.Context, p *Progress, ms []Machine) error {
	cs, err := e.kube()
	if err != nil {
		return err
	}
	var names []string
	for _, m := range ms {
		if err := drain(ctx, cs, m.Name, 5*time.Minute); err != nil {
			return err
		}
		p.Node(m.Name, "drained")
		names = append(names, m.Name)
	}
	if err := e.Provider.Remove(ctx, e.Cluster, names, p); err != nil {
		return err
	}
	kh, err := e.State.KnownHosts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		errs = append(errs, kh.Forget(m.SSHAddr))
	}
	return errors.Join(errs...)
}

// applyPlatform puts the platform's manifests in k3s's auto-deploy directory
// on the first server, where k3s applies them and its helm-controller installs
// the charts; files of components since switched off are removed, but for
// those in keep, which another phase applies.
func (e *Engine) applyPlatform(ctx context.Context, p *Progress, first clusterfile.Node, ms []Manifest, keep ...string) error {
	c, err := e.client(ctx, first.Name)
	if err != nil {
		return err
	}
	keep = slices.Clone(keep)
	for _, m := range ms {
		// k3s's own files live in the same directory: ours carry a prefix.
		name := "prosper-" + strings.TrimPrefix(m.Name, "prosper-")
		if err := c.Upload(ctx, strings.NewReader(string(m.Data)), ManifestsDir+"/"+name, 0o600); err != nil {
			return err
		}
		keep = append(keep, name)
		p.Node(first.Name, "%s applied", name)
	}
	out, err := c.Output(ctx, "ls "+ManifestsDir)
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "prosper-") && !slices.Contains(keep, f) {
			if _, err := c.Output(ctx, "rm -f "+ManifestsDir+"/"+f); err != nil {
				return err
			}
			p.Node(first.Name, "%s removed (component switched off)", f)
		}
	}
	return nil
}
