package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// Relabeler is implemented by providers that keep a machine's pool in their
// own labels, so that a promoted standby node counts in its new pool on the
// next run. Without it, standby nodes are not promoted.
type Relabeler interface {
	SetPool(ctx context.Context, c clusterfile.Cluster, machine, pool string) error
}

// Engine creates, scales and deletes one cluster: the machines from its
// provider, k3s over SSH, the kubeconfig, the platform stack.
type Engine struct {
	Cluster  clusterfile.Cluster
	Provider Provider
	State    State
	K3s      K3sSource
	Out      io.Writer
	DryRun   bool
	// Kubeconfig is the operator's kubeconfig the cluster's context is merged
	// into; empty leaves it alone (the cluster's own is in the state dir).
	Kubeconfig string
	// SSHWait bounds waiting for each machine's SSH; zero fields default.
	SSHWait sshx.Backoff
	// CloudInitTimeout bounds waiting for cloud-init (default 10m); ReadyTimeout
	// for nodes to become Ready (default 5m).
	CloudInitTimeout time.Duration
	ReadyTimeout     time.Duration
	// Parallel is how many nodes are set up at once (default 50: nodes
	// download k3s themselves, so the operator's machine only holds SSH
	// sessions; waits for SSH and cloud-init take every node at once).
	Parallel int
	// Platform renders the platform stack's manifests; nil installs none.
	Platform func(c clusterfile.Cluster) ([]Manifest, error)
	// ClusterFile is the file's content, kept in the state for list.
	ClusterFile []byte
	// ProsperImage, when set and the platform runs prosper's chart from no
	// published image (the file's platform.prosperImage), adds the phase
	// "prosper image" after the platform's: it builds the image the chart
	// runs and pushes it to the platform's registry, and prosper's HelmChart
	// is applied there, with that image, instead of in the platform phase.
	// Nil leaves the chart on its default image.
	ProsperImage *ProsperImage

	mu       sync.Mutex
	clients  map[string]*sshx.Client
	signer   ssh.Signer
	token    string
	machines map[string]Machine
	art      K3sArtifacts
}

// Manifest is a Kubernetes manifest file k3s applies from its auto-deploy
// directory on the first server.
type Manifest struct {
	Name string // file name, e.g. "prosper-nats.yaml"
	Data []byte
}

// ManifestsDir is k3s's auto-deploy directory: it applies every file in it.
const ManifestsDir = "/var/lib/rancher/k3s/server/manifests"

// Create builds the cluster, or completes it after a failed run. It never
// removes a node: a file that asks for fewer is an error pointing at scale.
func (e *Engine) Create(ctx context.Context) error { return e.converge(ctx, false) }

// Scale makes the cluster match the file: it adds nodes, promotes standby
// nodes into pools that are short (when the provider supports it), then
// refills the standby pool, and drains and removes nodes beyond the counts.
func (e *Engine) Scale(ctx context.Context) error { return e.converge(ctx, true) }

func (e *Engine) converge(ctx context.Context, scale bool) error {
	c := e.Cluster
	// Render the platform first: a missing credential is found before any
	// machine is touched.
	var platformManifests []Manifest
	if e.Platform != nil {
		var err error
		if platformManifests, err = e.Platform(c); err != nil {
			return fmt.Errorf("platform stack: %w", err)
		}
	}
	existing, err := e.Provider.Machines(ctx, c)
	if err != nil {
		return fmt.Errorf("list the cluster's machines: %w", err)
	}
	_, canPromote := e.Provider.(Relabeler)
	ch, err := Diff(c, existing, scale && canPromote, scale)
	if err != nil {
		return err
	}
	if scale && !e.State.Exists() {
		return fmt.Errorf("no cluster %s is known here (%s): create it first with \"prosper cluster create\"", c.Metadata.Name, e.State.Dir)
	}
	e.machines = map[string]Machine{}
	for _, m := range existing {
		e.machines[m.Name] = m
	}
	var firstCP clusterfile.Node
	var servers, agents []clusterfile.Node
	for _, n := range ch.Nodes {
		switch {
		case n.Role != clusterfile.RoleControlPlane:
			agents = append(agents, n)
		case firstCP.Name == "":
			firstCP = n
		default:
			servers = append(servers, n)
		}
	}
	if firstCP.Name == "" {
		return errors.New("the cluster file has no control plane")
	}
	r := &Runner{Out: e.Out, DryRun: e.DryRun}
	phases := []Phase{
		{Name: "keys", Plan: func(context.Context) ([]string, error) { return e.State.KeyPlanned(), nil }, Run: e.keys},
		{Name: "machines (" + e.Provider.Name() + ")",
			Plan: func(ctx context.Context) ([]string, error) {
				if e.DryRun {
					return e.Provider.Plan(ctx, c, ch.Nodes)
				}
				// A real run does not pay the provider's read calls twice
				// (Hetzner counts every call against 3,600 an hour): the
				// diff already says what is missing, and Ensure reports.
				lines := []string{fmt.Sprintf("ensure the provider's shared resources and %d machines", len(ch.Nodes))}
				for _, n := range ch.Add {
					lines = append(lines, "create "+n.Name)
				}
				return lines, nil
			},
			Run: func(ctx context.Context, p *Progress) error {
				ms, err := e.Provider.Ensure(ctx, c, ch.Nodes, e.authorized(), p)
				for _, m := range ms {
					e.machines[m.Name] = m
				}
				return err
			}},
		{Name: "wait for SSH", Plan: nodesPlan(ch.Nodes, "log in as the cluster's key"), Run: e.forAllNodes(ch.Nodes, e.waitSSH)},
		{Name: "wait for cloud-init", Plan: nodesPlan(ch.Nodes, "wait until cloud-init is done, if it runs"), Run: e.forAllNodes(ch.Nodes, e.waitCloudInit)},
		{Name: "k3s " + c.Spec.K3s.Version, Plan: e.k3sPlan(ch.Nodes), Run: e.uploadK3s(ch.Nodes)},
	}
	if snap, ok := e.Provider.(Snapshotter); ok && c.Spec.Provider.Hetzner != nil && c.Spec.Provider.Hetzner.Snapshot {
		phases = append(phases, Phase{Name: "snapshot",
			Plan: func(context.Context) ([]string, error) {
				return []string{"snapshot " + firstCP.Name + " with k3s " + c.Spec.K3s.Version + " on disk, unless one exists, so later nodes boot from it"}, nil
			},
			Run: func(ctx context.Context, p *Progress) error { return snap.Snapshot(ctx, c, firstCP.Name, p) }})
	}
	phases = append(phases,
		Phase{Name: "control plane", Plan: nodesPlan(append([]clusterfile.Node{firstCP}, servers...), "install or update the k3s server (first alone, then the others one by one)"),
			Run: func(ctx context.Context, p *Progress) error {
				if err := e.install(ctx, p, firstCP, K3sFirstServer, firstCP); err != nil {
					return err
				}
				// etcd members join one at a time.
				for _, n := range servers {
					if err := e.install(ctx, p, n, K3sServer, firstCP); err != nil {
						return err
					}
				}
				return nil
			}},
		Phase{Name: "workers", Plan: nodesPlan(agents, "install or update the k3s agent, in parallel"),
			Run: e.forNodes(agents, func(ctx context.Context, p *Progress, n clusterfile.Node) error {
				return e.install(ctx, p, n, K3sAgent, firstCP)
			})},
		Phase{Name: "kubeconfig", Plan: func(context.Context) ([]string, error) {
			lines := []string{"write " + e.State.Path(kubeconfigFile) + ", context " + c.Metadata.Name}
			if e.Kubeconfig != "" {
				lines = append(lines, "merge context "+c.Metadata.Name+" into "+e.Kubeconfig)
			}
			return lines, nil
		}, Run: func(ctx context.Context, p *Progress) error { return e.fetchKubeconfig(ctx, p, firstCP) }},
	)
	if len(ch.Promote) > 0 {
		phases = append(phases, Phase{Name: "promote standby", Plan: func(context.Context) ([]string, error) {
			var lines []string
			for _, pr := range ch.Promote {
				lines = append(lines, fmt.Sprintf("move %s from standby into pool %s (labels, taints)", pr.Node.Name, pr.Node.Pool))
			}
			return lines, nil
		}, Run: func(ctx context.Context, p *Progress) error { return e.promote(ctx, p, c, ch.Promote) }})
	}
	if len(ch.Remove) > 0 {
		phases = append(phases, Phase{Name: "remove nodes", Plan: func(context.Context) ([]string, error) {
			var lines []string
			for _, m := range ch.Remove {
				lines = append(lines, "drain and delete "+m.Name)
			}
			return lines, nil
		}, Run: func(ctx context.Context, p *Progress) error { return e.remove(ctx, p, ch.Remove) }})
	}
	if len(platformManifests) > 0 {
		ms := platformManifests
		// prosper's chart waits for its image, which needs the registry the
		// platform phase starts: the image phase applies it, and the
		// platform phase leaves its file alone.
		var deferred []string
		var imagePhase *Phase
		if e.ProsperImage != nil && platform.HasProsper(c) && c.Spec.Platform.ProsperImage == "" {
			pm, err := platform.ProsperManifest(c, platform.ProsperImage{})
			if err != nil {
				return fmt.Errorf("platform stack: %w", err)
			}
			ms = slices.DeleteFunc(slices.Clone(ms), func(m Manifest) bool { return m.Name == pm.Name })
			deferred = append(deferred, "prosper-"+strings.TrimPrefix(pm.Name, "prosper-"))
			ph := e.prosperImagePhase(firstCP, pm.Name)
			imagePhase = &ph
		}
		phases = append(phases, Phase{Name: "platform", Plan: func(context.Context) ([]string, error) {
			var lines []string
			for _, m := range ms {
				lines = append(lines, "apply "+m.Name+" through k3s's helm-controller on "+firstCP.Name)
			}
			return lines, nil
		}, Run: func(ctx context.Context, p *Progress) error { return e.applyPlatform(ctx, p, firstCP, ms, deferred...) }})
		if imagePhase != nil {
			phases = append(phases, *imagePhase)
		}
	}
	phases = append(phases, Phase{Name: "verify", Plan: nodesPlan(ch.Nodes, "wait until Ready in Kubernetes"),
		Run: func(ctx context.Context, p *Progress) error {
			cs, err := e.kube()
			if err != nil {
				return err
			}
			return waitNodesReady(ctx, cs, ch.Nodes, p, orDefault(e.ReadyTimeout, 5*time.Minute))
		}})
	if !e.DryRun && e.ClusterFile != nil {
		if err := os.MkdirAll(e.State.Dir, 0o700); err != nil {
			return err
		}
		if err := e.State.SaveClusterFile(e.ClusterFile); err != nil {
			return err
		}
	}
	if e.State.Exists() && !e.DryRun {
		// The keys phase has nothing to do then, but later phases need them.
		if err := e.keys(ctx, nil); err != nil {
			return err
		}
	}
	defer e.closeClients()
	return r.Run(ctx, phases)
}

// Delete removes everything the provider created for the cluster, the
// cluster's kubeconfig context and its local state.
func (e *Engine) Delete(ctx context.Context) error {
	c := e.Cluster
	r := &Runner{Out: e.Out, DryRun: e.DryRun}
	return r.Run(ctx, []Phase{
		{Name: "load balancers", Plan: func(context.Context) ([]string, error) {
			return []string{"delete the Services of type LoadBalancer, so the cloud controller removes their load balancers"}, nil
		}, Run: func(ctx context.Context, p *Progress) error {
			cs, err := e.kube()
			if err == nil {
				err = releaseLoadBalancers(ctx, cs, p, 3*time.Minute)
			}
			if err != nil {
				// A broken cluster must still be deletable: say what may be
				// left and go on.
				p.Node("warning", "%s; load balancers its workloads made may be left: check the provider's console", errText(err))
			}
			return nil
		}},
		{Name: "delete (" + e.Provider.Name() + ")",
			Plan: func(ctx context.Context) ([]string, error) {
				ms, err := e.Provider.Machines(ctx, c)
				if err != nil {
					return nil, err
				}
				lines := []string{fmt.Sprintf("delete every resource labelled %s=%s (%d machines, and the network, firewall, keys, load balancers and volumes it made)", clusterfile.LabelCluster, c.Metadata.Name, len(ms))}
				for _, m := range ms {
					lines = append(lines, "delete "+m.Name)
				}
				return lines, nil
			},
			Run: func(ctx context.Context, p *Progress) error { return e.Provider.Delete(ctx, c, p) }},
		{Name: "local state", Plan: func(context.Context) ([]string, error) {
			lines := []string{"remove " + e.State.Dir}
			if e.Kubeconfig != "" {
				lines = append(lines, "remove context "+c.Metadata.Name+" from "+e.Kubeconfig)
			}
			return lines, nil
		}, Run: func(context.Context, *Progress) error {
			if e.Kubeconfig != "" {
				if err := ForgetKubeconfig(e.Kubeconfig, c.Metadata.Name); err != nil {
					return err
				}
			}
			return e.State.Remove()
		}},
	})
}

// Kubeconfig fetches the cluster's kubeconfig again (after a reinstall of the
// operator's machine, say) and merges it.
func (e *Engine) FetchKubeconfig(ctx context.Context) error {
	ms, err := e.Provider.Machines(ctx, e.Cluster)
	if err != nil {
		return err
	}
	if err := e.keys(ctx, nil); err != nil {
		return err
	}
	e.machines = map[string]Machine{}
	for _, m := range ms {
		e.machines[m.Name] = m
	}
	defer e.closeClients()
	for _, n := range e.Cluster.Plan() {
		if n.Role == clusterfile.RoleControlPlane {
			if _, ok := e.machines[n.Name]; ok {
				return e.fetchKubeconfig(ctx, &Progress{out: e.Out}, n)
			}
		}
	}
	return fmt.Errorf("cluster %s has no control plane machine: create it first", e.Cluster.Metadata.Name)
}

func (e *Engine) keys(context.Context, *Progress) error {
	signer, _, err := e.State.Key(e.Cluster.Metadata.Name)
	if err != nil {
		return err
	}
	tok, err := e.State.Token()
	if err != nil {
		return err
	}
	e.signer, e.token = signer, tok
	return nil
}

// authorized is the cluster key's authorized_keys line.
func (e *Engine) authorized() string {
	_, line, err := e.State.Key(e.Cluster.Metadata.Name)
	if err != nil {
		return ""
	}
	return line
}

// nodesPlan is a phase plan of one line per node.
func nodesPlan(nodes []clusterfile.Node, what string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) {
		lines := make([]string, len(nodes))
		for i, n := range nodes {
			lines[i] = n.Name + ": " + what
		}
		return lines, nil
	}
}

// forNodes runs fn on every node, Parallel at a time.
func (e *Engine) forNodes(nodes []clusterfile.Node, fn func(ctx context.Context, p *Progress, n clusterfile.Node) error) func(context.Context, *Progress) error {
	return forNodesWith(nodes, orDefault(e.Parallel, 50), fn)
}

// forAllNodes runs fn on every node at once, for phases that only wait.
func (e *Engine) forAllNodes(nodes []clusterfile.Node, fn func(ctx context.Context, p *Progress, n clusterfile.Node) error) func(context.Context, *Progress) error {
	return forNodesWith(nodes, len(nodes), fn)
}

func forNodesWith(nodes []clusterfile.Node, limit int, fn func(ctx context.Context, p *Progress, n clusterfile.Node) error) func(context.Context, *Progress) error {
	return func(ctx context.Context, p *Progress) error {
		byName := map[string]clusterfile.Node{}
		names := make([]string, len(nodes))
		for i, n := range nodes {
			byName[n.Name], names[i] = n, n.Name
		}
		return Parallel(ctx, p, names, limit, func(ctx context.Context, name string) error {
			return fn(ctx, p, byName[name])
		})
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (e *Engine) machine(name string) (Machine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.machines[name]
	if !ok {
		return Machine{}, fmt.Errorf("%s: the provider returned no machine for it", name)
	}
	return m, nil
}

func (e *Engine) closeClients() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.clients {
		c.Close()
	}
	e.clients = nil
}

// errText is an error's first line, for progress lines.
func errText(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
