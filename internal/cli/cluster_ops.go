package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/hetzner"
	platformstack "github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshhosts"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// clusterFlags are the flags every cluster operation shares.
type clusterFlags struct {
	file       string
	dryRun     bool
	kubeconfig string
	noMerge    bool
	stateRoot  string
	k3sBinary  string
	k3sImages  string
	k3sRelease string
	sshWait    time.Duration
	// image is prosper's image for the cluster, for the operations that
	// apply the platform (see bindImage); nil for the others.
	image *provision.ProsperImage
}

// bindImage adds the flags of the "prosper image" phase, for the operations
// that apply the platform: the chart's default image is not published, so
// prosper builds its own from this binary and pushes it to the platform's
// registry.
func (f *clusterFlags) bindImage(cmd *cobra.Command) {
	f.image = &provision.ProsperImage{}
	cmd.Flags().StringVar(&f.image.Binary, "prosper-binary", "", "the Linux prosper binary, of the nodes' architecture, that prosper's image for the cluster is built from (default: this one)")
	cmd.Flags().StringVar(&f.image.Base, "prosper-base", image.DefaultProsperBase, "the base of prosper's image (git, /bin/sh and Go), pulled from this machine")
	cmd.Flags().DurationVar(&f.image.RegistryTimeout, "registry-wait", 10*time.Minute, "how long to wait for the platform's registry before pushing prosper's image")
}

func (f *clusterFlags) bind(cmd *cobra.Command, mutating bool) {
	cmd.Flags().StringVarP(&f.file, "file", "f", "", "the cluster file")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "the kubeconfig to merge the cluster's context into (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().BoolVar(&f.noMerge, "no-merge", false, "leave your kubeconfig alone; the cluster's own is in its state directory")
	cmd.Flags().StringVar(&f.stateRoot, "state-dir", "", "where cluster keys and kubeconfigs are kept (default: $PROSPER_CLUSTERS_DIR or ~/.config/prosper/clusters)")
	if !mutating {
		return
	}
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what each phase would do and change nothing")
	cmd.Flags().StringVar(&f.k3sBinary, "k3s-binary", "", "upload this k3s binary to the nodes instead of the release's (air-gapped sites)")
	cmd.Flags().StringVar(&f.k3sImages, "k3s-images", "", "upload this k3s air-gap images archive to the nodes")
	cmd.Flags().StringVar(&f.k3sRelease, "k3s-releases", "", "base URL of k3s releases, for a mirror (default: GitHub's k3s releases)")
	cmd.Flags().DurationVar(&f.sshWait, "ssh-wait", 5*time.Minute, "how long to wait for each machine's SSH")
}

// engine reads the cluster file and builds the engine with its provider.
func (f *clusterFlags) engine(e *env) (*provision.Engine, error) {
	if f.file == "" {
		return nil, errors.New("which cluster? pass -f CLUSTER.yaml")
	}
	data, err := os.ReadFile(f.file)
	if err != nil {
		return nil, fmt.Errorf("read cluster file: %w", err)
	}
	c, err := clusterfile.Parse(f.file, data)
	if err != nil {
		return nil, err
	}
	for _, w := range c.Warnings() {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	root := f.stateRoot
	if root == "" {
		if root, err = provision.DefaultStateRoot(); err != nil {
			return nil, err
		}
	}
	st := provision.StateFor(root, c.Metadata.Name)
	p, err := clusterProvider(c, st)
	if err != nil {
		return nil, err
	}
	kc := f.kubeconfig
	if kc == "" && !f.noMerge {
		kc = provision.DefaultKubeconfig()
	}
	if f.noMerge {
		kc = ""
	}
	return &provision.Engine{
		Cluster: c, Provider: p, State: st, Out: e.stdout, DryRun: f.dryRun, Kubeconfig: kc,
		K3s:          provision.K3sSource{Binary: f.k3sBinary, Images: f.k3sImages, Releases: f.k3sRelease},
		SSHWait:      sshWait(f.sshWait),
		Platform:     platformManifests,
		ClusterFile:  data,
		ProsperImage: f.image,
	}, nil
}

// clusterProvider builds the provider the file names. The Hetzner token comes
// from HCLOUD_TOKEN, as the hcloud CLI reads it; HCLOUD_ENDPOINT points at
// another endpoint of the same API (a simulator, a proxy).
func clusterProvider(c clusterfile.Cluster, st provision.State) (provision.Provider, error) {
	if c.Spec.Provider.SSH != nil {
		return sshhosts.New(sshhosts.Options{KnownHostsPath: st.Path("known_hosts")}), nil
	}
	token := os.Getenv("HCLOUD_TOKEN")
	if token == "" {
		return nil, errors.New("HCLOUD_TOKEN is not set: create an API token (read & write) in the Hetzner Cloud console, project → Security → API tokens, and export it as HCLOUD_TOKEN")
	}
	return hetzner.New(hetzner.Options{Token: token, Endpoint: os.Getenv("HCLOUD_ENDPOINT")})
}

// platformManifests renders the platform stack, with the backup credentials'
// Secret when PostgreSQL is backed up.
func platformManifests(c clusterfile.Cluster) ([]provision.Manifest, error) {
	ms, err := platformstack.Manifests(c)
	if err != nil {
		return nil, err
	}
	secret, err := platformstack.Secret(c, os.Getenv)
	switch {
	case errors.Is(err, platformstack.ErrNoBackup):
	case err != nil:
		return nil, err
	default:
		ms = append(ms, secret)
	}
	hsec, err := platformstack.HcloudSecret(c, os.Getenv)
	switch {
	case errors.Is(err, platformstack.ErrNotHetzner):
	case err != nil:
		return nil, err
	default:
		ms = slices.Insert(ms, 1, hsec) // after the namespace, before the charts that read it
	}
	out := make([]provision.Manifest, len(ms))
	for i, m := range ms {
		out[i] = provision.Manifest{Name: m.Name, Data: m.Data}
	}
	return out, nil
}

func newClusterCreateCmd(e *env) *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "create -f CLUSTER.yaml",
		Short: "Create the cluster, or complete it after a failed run: machines, k3s, kubeconfig, platform",
		Long: `Runs the phases in order, each idempotent: keys, machines (the provider's
key, network, firewall, placement group and servers), wait for SSH, wait for
cloud-init, k3s binary, control plane, workers, kubeconfig, platform, prosper
image, verify. Running it again after any failure converges with no duplicates.

With the platform's registry, prosper runs on the cluster from its own image:
the phase "prosper image" builds it from this binary (or --prosper-binary, a
Linux binary of the nodes' architecture) on --prosper-base, pushes it to the
registry through SSH to the first control-plane node, and points prosper's
chart at it by digest. The cluster file's platform.prosperImage names a
published image to run instead.`,
		Example: `  export HCLOUD_TOKEN=...
  prosper cluster create -f acme-prod.yaml --dry-run
  prosper cluster create -f acme-prod.yaml
  prosper cluster create -f acme-arm.yaml --prosper-binary ./prosper-linux-arm64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := f.engine(e)
			if err != nil {
				return err
			}
			if err := eng.Create(cmd.Context()); err != nil {
				if errors.Is(err, provision.ErrPhase) {
					return fmt.Errorf("create %s: %w (run the same command again to continue; nothing is duplicated)", eng.Cluster.Metadata.Name, err)
				}
				return err
			}
			if !f.dryRun {
				fmt.Fprintf(e.stdout, "\ncluster %s is ready: kubectl --context %s get nodes\n", eng.Cluster.Metadata.Name, eng.Cluster.Metadata.Name)
			}
			return nil
		},
	}
	f.bind(cmd, true)
	f.bindImage(cmd)
	return cmd
}

func newClusterScaleCmd(e *env) *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "scale -f CLUSTER.yaml",
		Short: "Make the cluster match its file: add nodes, promote standby nodes, drain and remove extra ones",
		Example: `  # raise a pool's count in the file, then:
  prosper cluster scale -f acme-prod.yaml --dry-run
  prosper cluster scale -f acme-prod.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := f.engine(e)
			if err != nil {
				return err
			}
			return eng.Scale(cmd.Context())
		},
	}
	f.bind(cmd, true)
	f.bindImage(cmd)
	return cmd
}

func newClusterDeleteCmd(e *env) *cobra.Command {
	var f clusterFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete -f CLUSTER.yaml",
		Short: "Delete everything the cluster created (found by its label) and nothing else",
		Example: `  prosper cluster delete -f acme-prod.yaml --dry-run
  prosper cluster delete -f acme-prod.yaml --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := f.engine(e)
			if err != nil {
				return err
			}
			if !yes && !f.dryRun {
				return fmt.Errorf("this deletes cluster %s and its data; run with --dry-run to see what, then with --yes", eng.Cluster.Metadata.Name)
			}
			return eng.Delete(cmd.Context())
		},
	}
	f.bind(cmd, true)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func newClusterKubeconfigCmd(e *env) *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:     "kubeconfig -f CLUSTER.yaml",
		Short:   "Fetch the cluster's kubeconfig again and merge it, context named after the cluster",
		Example: "  prosper cluster kubeconfig -f acme-prod.yaml --kubeconfig ./acme.kubeconfig",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := f.engine(e)
			if err != nil {
				return err
			}
			return eng.FetchKubeconfig(cmd.Context())
		},
	}
	f.bind(cmd, false)
	return cmd
}

func newClusterListCmd(e *env) *cobra.Command {
	var out output
	var stateRoot string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the clusters created from this machine",
		Example: `  prosper cluster list
  prosper cluster list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			root := stateRoot
			if root == "" {
				var err error
				if root, err = provision.DefaultStateRoot(); err != nil {
					return err
				}
			}
			known, err := provision.Known(root)
			if err != nil {
				return err
			}
			type row struct {
				Name     string    `json:"name"`
				Provider string    `json:"provider,omitempty"`
				Nodes    int       `json:"nodes"`
				K3s      string    `json:"k3s,omitempty"`
				Created  time.Time `json:"created"`
				State    string    `json:"state_dir"`
				Error    string    `json:"error,omitempty"`
			}
			rows := []row{}
			for _, k := range known {
				r := row{Name: k.Name, Created: k.Created.UTC(), State: k.State.Dir}
				if k.Cluster != nil {
					r.Provider, r.Nodes, r.K3s = providerName(*k.Cluster), len(k.Cluster.Plan()), k.Cluster.Spec.K3s.Version
				} else if k.Err != nil {
					r.Error = k.Err.Error()
				}
				rows = append(rows, r)
			}
			if out.json() {
				return writeJSON(e.stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(e.stdout, "no clusters in %s; create one with: prosper cluster create -f CLUSTER.yaml\n", root)
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROVIDER\tNODES\tK3S\tCREATED\tSTATE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Name, dash(r.Provider), r.Nodes, dash(r.K3s), r.Created.Format(time.RFC3339), r.State)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&stateRoot, "state-dir", "", "where cluster state is kept (default: $PROSPER_CLUSTERS_DIR or ~/.config/prosper/clusters)")
	out.bind(cmd)
	return cmd
}

// sshWait bounds the wait for each machine's SSH to d in total.
func sshWait(d time.Duration) sshx.Backoff { return sshx.Backoff{Deadline: d} }
