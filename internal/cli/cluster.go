package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

func newClusterCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, scale and delete k3s clusters for the platform, on Hetzner Cloud or SSH-reachable hosts",
		Long: `A cluster is described by a versioned file (apiVersion prosper.dev/v1alpha1,
kind Cluster; JSON Schema for editors in docs/cluster.schema.json). Every
command that changes something takes --dry-run, which prints what each phase
would do. Keys, the k3s token and the kubeconfig of each cluster are kept in
~/.config/prosper/clusters/NAME (or $PROSPER_CLUSTERS_DIR).`,
		Example: `  prosper cluster plan -f acme-prod.yaml
  HCLOUD_TOKEN=... prosper cluster create -f acme-prod.yaml
  prosper cluster delete -f acme-prod.yaml --yes`,
	}
	cmd.AddCommand(newClusterPlanCmd(e), newClusterCreateCmd(e), newClusterScaleCmd(e),
		newClusterDeleteCmd(e), newClusterKubeconfigCmd(e), newClusterListCmd(e))
	return cmd
}

func newClusterPlanCmd(e *env) *cobra.Command {
	var out output
	var file string
	cmd := &cobra.Command{
		Use:   "plan -f CLUSTER.yaml",
		Short: "Check a cluster file and show the nodes it describes, with their pools, labels and taints",
		Example: `  prosper cluster plan -f acme-prod.yaml
  prosper cluster plan -f acme-prod.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if file == "" {
				return errors.New("which cluster? pass -f CLUSTER.yaml")
			}
			c, err := clusterfile.Load(file)
			if err != nil {
				return err
			}
			nodes := c.Plan()
			if out.json() {
				return writeJSON(e.stdout, planJSON(c, nodes))
			}
			return printPlan(e.stdout, c, nodes)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the cluster file")
	out.bind(cmd)
	return cmd
}

type planNode struct {
	Name       string            `json:"name"`
	Role       string            `json:"role"`
	Pool       string            `json:"pool"`
	ServerType string            `json:"server_type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Address    string            `json:"address,omitempty"`
	Labels     map[string]string `json:"labels"`
	Taints     []string          `json:"taints"`
}

type plan struct {
	Cluster  string     `json:"cluster"`
	Provider string     `json:"provider"`
	K3s      string     `json:"k3s_version"`
	Nodes    []planNode `json:"nodes"`
	Warnings []string   `json:"warnings"`
}

func planJSON(c clusterfile.Cluster, nodes []clusterfile.Node) plan {
	p := plan{Cluster: c.Metadata.Name, Provider: providerName(c), K3s: c.Spec.K3s.Version, Nodes: []planNode{}, Warnings: c.Warnings()}
	if p.Warnings == nil {
		p.Warnings = []string{}
	}
	for _, n := range nodes {
		pn := planNode{Name: n.Name, Role: string(n.Role), Pool: n.Pool, ServerType: n.ServerType, Location: n.Location,
			Address: n.Address, Labels: n.Labels, Taints: []string{}}
		for _, t := range n.Taints {
			pn.Taints = append(pn.Taints, t.String())
		}
		p.Nodes = append(p.Nodes, pn)
	}
	return p
}

func providerName(c clusterfile.Cluster) string {
	if c.Spec.Provider.SSH != nil {
		return "ssh"
	}
	return "hetzner"
}

func printPlan(w io.Writer, c clusterfile.Cluster, nodes []clusterfile.Node) error {
	fmt.Fprintf(w, "cluster %s on %s, k3s %s: %d nodes\n\n", c.Metadata.Name, providerName(c), c.Spec.K3s.Version, len(nodes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tPOOL\tWHERE\tLABELS\tTAINTS")
	for _, n := range nodes {
		where := n.Address
		if where == "" {
			where = strings.TrimSpace(n.ServerType + " " + n.Location)
		}
		keys := make([]string, 0, len(n.Labels))
		for k := range n.Labels {
			keys = append(keys, k+"="+n.Labels[k])
		}
		sort.Strings(keys)
		taints := make([]string, 0, len(n.Taints))
		for _, t := range n.Taints {
			taints = append(taints, t.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.Pool, dash(where), dash(strings.Join(keys, ",")), dash(strings.Join(taints, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, warn := range c.Warnings() {
		fmt.Fprintf(w, "\nwarning: %s\n", warn)
	}
	return nil
}
