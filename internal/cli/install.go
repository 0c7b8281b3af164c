package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/install"
	"github.com/prosperhq/prosper/internal/provision"
)

// installCmd is "prosper install": prosper's chart, rendered here and applied
// to a cluster.
type installCmd struct {
	kubeconfig string
	namespace  string
	sets       []string
	valueFiles []string
	dryRun     bool
	wait       bool
	timeout    time.Duration
}

func newInstallCmd(e *env) *cobra.Command {
	c := &installCmd{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install prosper's control plane and router on a Kubernetes cluster",
		Long: `Install prosper on a Kubernetes cluster: the control plane (API, web UI, git
endpoint) and the router, which run the apps on that cluster. The Helm chart is
built into this binary; it is rendered here and applied with server-side apply,
so running install again with other values updates the installation in place.

The registry the release images are pushed to is required (--set registry=...).
The values are the chart's (deploy/helm/prosper/values.yaml): --values files
first, in order, then each --set, as with Helm.`,
		Example: `  prosper install --kubeconfig ~/.kube/config --set registry=registry.example.com:5000
  prosper install --set registry=registry.example.com:5000 --set ingress.host=prosper.example.com --set ingress.appsDomain=apps.example.com
  prosper install -f prosper-values.yaml --namespace prosper
  prosper install --set registry=registry.example.com:5000 --dry-run > prosper.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.run(cmd.Context(), e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "the cluster's kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&c.namespace, "namespace", "n", install.DefaultNamespace, "the namespace prosper runs in; created if missing")
	f.StringArrayVar(&c.sets, "set", nil, "set a chart value, KEY=VALUE (a.b=c for nested keys); repeatable")
	f.StringArrayVarP(&c.valueFiles, "values", "f", nil, "a YAML file of chart values; repeatable, later files win")
	f.BoolVar(&c.dryRun, "dry-run", false, "print the manifests and change nothing")
	f.BoolVar(&c.wait, "wait", true, "wait for the control plane to be available")
	f.DurationVar(&c.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func (c *installCmd) run(ctx context.Context, e *env) error {
	vals := map[string]any{}
	for _, file := range c.valueFiles {
		if err := install.ReadValuesFile(vals, file); err != nil {
			return err
		}
	}
	for _, s := range c.sets {
		if err := install.SetValue(vals, s); err != nil {
			return err
		}
	}
	if Version != "" {
		// A release build installs the control plane of its own version,
		// unless told otherwise.
		setDefault(vals, "image", "tag", Version)
	}
	objs, err := install.Render(install.Options{Namespace: c.namespace, Values: vals})
	if err != nil {
		return err
	}
	if c.dryRun {
		out, err := install.YAML(objs)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}

	path := c.kubeconfig
	if path == "" {
		path = provision.DefaultKubeconfig()
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("kubeconfig %s: %w: pass --kubeconfig FILE, or --dry-run to only print the manifests", path, errors.Unwrap(err))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	a, err := install.NewApplier(cfg)
	if err != nil {
		return err
	}
	a.Progress = e.stdout
	if err := a.Apply(ctx, objs, false); err != nil {
		return err
	}
	ns := c.namespace
	if !c.wait {
		fmt.Fprintf(e.stdout, "prosper is installed in namespace %s; not waiting for it to start (--wait=false)\n", ns)
		return nil
	}
	fmt.Fprintf(e.stdout, "waiting up to %s for the control plane to be available\n", c.timeout)
	if err := a.WaitAvailable(ctx, ns, install.ReleaseName, c.timeout); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `prosper is up in namespace %[1]s
  admin token:  kubectl -n %[1]s exec deployment/%[2]s -- cat /var/lib/prosper/admin-token
  API and UI:   kubectl -n %[1]s port-forward service/%[2]s 7070, or the ingress host you set
Next: prosper login URL --token TOKEN, then prosper app create NAME.
`, ns, install.ReleaseName)
	return nil
}

// setDefault sets vals[table][key] unless it is set already; a table that is
// not a map is left for the chart's schema to refuse.
func setDefault(vals map[string]any, table, key string, v any) {
	if _, set := vals[table]; !set {
		vals[table] = map[string]any{}
	}
	t, ok := vals[table].(map[string]any)
	if !ok {
		return
	}
	if _, set := t[key]; !set {
		t[key] = v
	}
}
