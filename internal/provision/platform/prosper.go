package platform

import (
	"strconv"

	"github.com/prosperhq/prosper/deploy/helm"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// The names the other charts give the services prosper uses: Helm names
// their objects RELEASE-CHART, and k3s's helm-controller names the release
// after the HelmChart, releasePrefix + the row's Name.
const (
	// RegistryAddress is the in-cluster registry's Service (chart
	// docker-registry, port 5000), where prosper pushes release images.
	RegistryAddress = releasePrefix + "registry-docker-registry." + Namespace + ".svc.cluster.local:5000"
	// PostgresSecret is the Secret CloudNativePG makes for the application user
	// of the cluster chart's database (cluster RELEASE-cluster); its key uri is a
	// postgresql:// URL that prosper's store takes as it is.
	PostgresSecret = releasePrefix + "postgres-cluster-app"
	// RegistryNodePort is where every node reaches the registry through its
	// own kube-proxy (http://127.0.0.1:RegistryNodePort): containerd pulls
	// from the host, which resolves no cluster DNS name.
	RegistryNodePort = 30500
	// RegistryMirror is the name release images are pulled by; each node's
	// /etc/rancher/k3s/registries.yaml (see RegistriesYAML) sends it to the
	// registry's node port.
	RegistryMirror = "registry.prosper.internal"
)

// RegistriesYAML is k3s's registries.yaml for a cluster with the platform's
// registry: RegistryMirror pulled over plain HTTP from the node port.
func RegistriesYAML() string {
	return "mirrors:\n  " + RegistryMirror + ":\n    endpoint:\n      - \"http://127.0.0.1:" + strconv.Itoa(RegistryNodePort) + "\"\n"
}

// prosperChart is prosper's own chart (control plane and router, running the
// apps on this cluster), carried in the HelmChart from the binary since no
// repository serves it: the cluster runs the chart of the prosper that made it.
//
// It needs a registry for the release images, so it comes with the platform's
// registry. It is heavy: it builds the apps.
var prosperChart = Chart{
	Name: "prosper", Chart: helm.ChartName, Version: helm.ChartVersion,
	Heavy:   true,
	Content: helm.Package,
	enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Registry },
	values:  prosperValues,
}

func prosperValues(c clusterfile.Cluster, p placement) map[string]any {
	v := map[string]any{
		"registry": RegistryAddress,
		// The platform's registry serves plain HTTP inside the cluster.
		"registryInsecure": true,
		"pullRegistry":     RegistryMirror,
	}
	if c.Spec.Platform.Postgres.Enabled {
		v["store"] = map[string]any{"existingSecret": PostgresSecret, "key": "uri"}
	}
	return p.set(v)
}
