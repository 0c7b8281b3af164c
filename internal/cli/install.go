package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/image"
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
	// buildImage builds prosper's image of this binary (or binary) on base
	// and pushes it to the install's registry first.
	buildImage bool
	base       string
	binary     string
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
first, in order, then each --set, as with Helm.

--build-image builds prosper's own image (this binary, or --binary, on a base
with git and Go; see "prosper image build") and pushes it to the registry as
REGISTRY/prosper, so that the cluster runs this very prosper: the registry must
be reachable from here at the registry value's address.`,
		Example: `  prosper install --kubeconfig ~/.kube/config --set registry=registry.example.com:5000
  prosper install --set registry=registry.example.com:5000 --set ingress.host=prosper.example.com --set ingress.appsDomain=apps.example.com
  prosper install -f prosper-values.yaml --namespace prosper
  prosper install --set registry=registry.example.com:5000 --dry-run > prosper.yaml
  prosper install --set registry=registry.example.com:5000 --build-image --binary ./prosper-linux`,
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
	f.BoolVar(&c.buildImage, "build-image", false, "build prosper's image and push it to the registry value's REGISTRY/prosper first")
	f.StringVar(&c.base, "base", image.DefaultProsperBase, "with --build-image: the base image (git, /bin/sh and Go)")
	f.StringVar(&c.binary, "binary", "", "with --build-image: the Linux prosper binary (default: this one)")
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
		if c.buildImage {
			return errors.New("--build-image pushes an image, which --dry-run may not: build it with prosper image build, then pass image.repository and image.digest")
		}
		out, err := install.YAML(objs)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}

	a, err := c.applier()
	if err != nil {
		return err
	}
	if c.buildImage {
		if err := c.pushImage(ctx, e, vals); err != nil {
			return err
		}
	}
	// The NATS token the control plane and the routers share must survive a
	// new install: the chart's lookup of the Secret needs a cluster, which
	// this renderer has not, so the token is read here.
	if !hasValue(vals, "nats", "token") {
		tok, err := a.NATSToken(ctx, c.namespace)
		if err != nil {
			return err
		}
		if tok != "" {
			setDefault(vals, "nats", "token", tok)
		}
	}
	if objs, err = install.Render(install.Options{Namespace: c.namespace, Values: vals}); err != nil {
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

// applier connects to the cluster of --kubeconfig.
func (c *installCmd) applier() (*install.Applier, error) {
	path := c.kubeconfig
	if path == "" {
		path = provision.DefaultKubeconfig()
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w: pass --kubeconfig FILE, or --dry-run to only print the manifests", path, errors.Unwrap(err))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return install.NewApplier(cfg)
}

// pushImage builds prosper's image, pushes it to the registry of the values
// as REGISTRY/prosper and points the chart at it by digest, by the name the
// nodes pull by (pullRegistry, when set).
func (c *installCmd) pushImage(ctx context.Context, e *env, vals map[string]any) error {
	registry, _ := vals["registry"].(string)
	pull, _ := vals["pullRegistry"].(string)
	insecure, _ := vals["registryInsecure"].(bool)
	if pull == "" {
		pull = registry
	}
	b := &prosperImageBuild{push: registry + "/prosper", base: c.base, binary: c.binary, insecure: insecure}
	ref, err := b.run(ctx, e.stdout)
	if err != nil {
		return fmt.Errorf("build prosper's image: %w", err)
	}
	_, digest, _ := strings.Cut(ref, "@")
	fmt.Fprintf(e.stdout, "pushed %s\n", ref)
	if vals["image"] == nil {
		vals["image"] = map[string]any{}
	}
	img, ok := vals["image"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: image is not a map of values", install.ErrInvalidValues)
	}
	img["repository"] = pull + "/prosper"
	img["digest"] = digest
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

// hasValue says whether vals[table][key] is set.
func hasValue(vals map[string]any, table, key string) bool {
	t, ok := vals[table].(map[string]any)
	if !ok {
		return false
	}
	_, set := t[key]
	return set
}
