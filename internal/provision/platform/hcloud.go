package platform

import (
	"errors"
	"fmt"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// On Hetzner, a Service of type LoadBalancer and a PersistentVolumeClaim only
// work with Hetzner's cloud controller manager and CSI driver; hetzner-k3s
// installs both, and so does prosper when spec.provider.hetzner is set. Both read
// the Secret HcloudSecretName in kube-system, which HcloudSecret renders.

// HcloudSecretName names the Secret in kube-system with the Hetzner API token
// ("token") and the name of the cluster's private network ("network"): the name
// both charts read by default.
const HcloudSecretName = "hcloud"

// EnvHcloudToken is the environment variable the token comes from, as the hcloud
// CLI reads it.
const EnvHcloudToken = "HCLOUD_TOKEN"

// ErrNotHetzner is returned by HcloudSecret for a cluster not on Hetzner Cloud.
var ErrNotHetzner = errors.New("the cluster is not on hetzner cloud")

// k3sClusterCIDR is the pod network k3s uses unless told otherwise (the cluster
// file has no setting for it): the CCM's routes must cover exactly it.
const k3sClusterCIDR = "10.42.0.0/16"

// cloudCharts integrate the cluster with its cloud provider. They run in
// kube-system, next to the Secret they read.
//
// The versions follow the upstream version policies for the default k3s
// (clusterfile.DefaultK3sVersion, Kubernetes 1.31): hcloud-csi 2.18.1 is the
// last release supporting 1.31 (2.18.2 dropped it) and has
// controller.volumeExtraLabels (since 2.14); the CCM supports 1.31 with any
// release after 1.25.1, the last one that still supports 1.29. Bump them with
// the default k3s version.
var cloudCharts = []Chart{
	{
		Name: "hcloud-ccm", Repo: "https://charts.hetzner.cloud", Chart: "hcloud-cloud-controller-manager", Version: "1.25.1",
		TargetNamespace: helmChartNamespace,
		// Nodes of a cluster with an external cloud provider carry the
		// uninitialized taint until the CCM runs: its install cannot wait for them.
		Bootstrap: true,
		enabled:   onHetzner,
		values:    ccmValues,
	},
	{
		Name: "hcloud-csi", Repo: "https://charts.hetzner.cloud", Chart: "hcloud-csi", Version: "2.18.1",
		TargetNamespace: helmChartNamespace,
		enabled:         onHetzner,
		values:          csiValues,
	},
}

func onHetzner(c clusterfile.Cluster) bool { return c.Spec.Provider.Hetzner != nil }

// ccmValues turn on the CCM's networking: routes for the pods' CIDR in the
// cluster's private network (whose name the chart reads from the Secret's
// "network" key) and load balancers that reach the nodes over it.
//
// The CCM has no setting that labels the load balancers it creates: neither an
// HCLOUD_LOAD_BALANCERS_* variable nor a load-balancer.hetzner.cloud/*
// annotation (upstream docs/reference/load_balancer_envs.md and
// load_balancer_annotations.md); it labels each one hcloud-ccm/service-uid only.
// Teardown therefore cannot find them by prosper.dev/cluster; it has to delete
// the LoadBalancer Services while the cluster runs, or find the load balancers
// attached to the cluster's network.
func ccmValues(c clusterfile.Cluster, _ placement) map[string]any {
	env := map[string]any{
		// Targets are the nodes' private addresses, in the cluster's network.
		"HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP": map[string]any{"value": "true"},
	}
	if locs := c.Spec.Provider.Hetzner.Locations; len(locs) > 0 {
		// Without a default location the CCM refuses a Service that does not
		// name one in an annotation.
		env["HCLOUD_LOAD_BALANCERS_LOCATION"] = map[string]any{"value": locs[0]}
	}
	return map[string]any{
		"networking": map[string]any{
			"enabled":     true,
			"clusterCIDR": k3sClusterCIDR,
			"network": map[string]any{"valueFrom": map[string]any{
				"secretKeyRef": map[string]any{"name": HcloudSecretName, "key": "network"},
			}},
		},
		"env": env,
	}
}

// csiValues make hcloud-volumes the default StorageClass and label every
// volume the driver creates with the cluster's label, so that teardown finds
// them. controller.volumeExtraLabels (HCLOUD_VOLUME_EXTRA_LABELS) applies to all
// volumes, whatever StorageClass a workload names, unlike the StorageClass
// parameter "labels".
func csiValues(c clusterfile.Cluster, _ placement) map[string]any {
	return map[string]any{
		"controller": map[string]any{
			"hcloudToken":       map[string]any{"existingSecret": map[string]any{"name": HcloudSecretName, "key": "token"}},
			"volumeExtraLabels": map[string]any{clusterfile.LabelCluster: c.Metadata.Name},
		},
		"storageClasses": []any{map[string]any{
			"name": "hcloud-volumes", "defaultStorageClass": true, "reclaimPolicy": "Delete",
		}},
	}
}

// HcloudSecret returns the Secret the CCM and the CSI driver read: the API token
// from HCLOUD_TOKEN, read through env (os.Getenv in production), and the name of
// the cluster's private network, which the hetzner provider names after the
// cluster. It returns ErrNotHetzner for a cluster on another provider.
func HcloudSecret(c clusterfile.Cluster, env func(string) string) (Manifest, error) {
	if !onHetzner(c) {
		return Manifest{}, ErrNotHetzner
	}
	token := env(EnvHcloudToken)
	if token == "" {
		return Manifest{}, fmt.Errorf("the cloud controller manager and CSI driver of cluster %s need a Hetzner API token: set %s (read & write; Hetzner Cloud console, project → Security → API tokens)",
			c.Metadata.Name, EnvHcloudToken)
	}
	return secretManifest(c, "01-hcloud-secret.yaml", HcloudSecretName, helmChartNamespace,
		map[string]string{"token": token, "network": c.Metadata.Name})
}
