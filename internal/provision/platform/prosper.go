package platform

import (
	"errors"
	"strconv"
	"strings"

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
	if ref := c.Spec.Platform.ProsperImage; ref != "" {
		v["image"] = parseProsperImage(ref).values()
	}
	return p.set(v)
}

// parseProsperImage splits a reference pinned by tag or digest (the cluster
// file's check ensures it is one) into the chart's values.
func parseProsperImage(ref string) ProsperImage {
	if repo, digest, ok := strings.Cut(ref, "@"); ok {
		return ProsperImage{Repository: repo, Digest: digest}
	}
	i := strings.LastIndex(ref, ":")
	if i < strings.LastIndex(ref, "/") {
		// A registry's port, no tag.
		return ProsperImage{Repository: ref}
	}
	return ProsperImage{Repository: ref[:i], Tag: ref[i+1:]}
}

// values are the chart's image values.
func (img ProsperImage) values() map[string]any {
	im := map[string]any{"repository": img.Repository}
	if img.Tag != "" {
		im["tag"] = img.Tag
	}
	if img.Digest != "" {
		im["digest"] = img.Digest
	}
	return im
}

// ProsperImage is the image prosper's chart runs instead of the chart's
// default (which nobody publishes): Repository, pulled by Digest
// ("sha256:...") when set, else by Tag. The cluster file's
// platform.prosperImage gives a published one; without it, the cluster's
// creator builds one (see ProsperManifest).
type ProsperImage struct {
	Repository string
	Tag        string
	Digest     string
}

// ErrNoProsperChart is returned by ProsperManifest for a cluster whose
// platform has no prosper chart (it comes with the registry).
var ErrNoProsperChart = errors.New("the cluster's platform has no prosper chart: it needs platform.registry")

// ProsperManifest renders prosper's HelmChart as Manifests does (same file
// name, same values), with the chart running img, for an image built and
// pushed to the platform's registry after Manifests were applied. Its Name
// tells which of Manifests' files it replaces.
func ProsperManifest(c clusterfile.Cluster, img ProsperImage) (Manifest, error) {
	for i, ch := range charts {
		if ch.Name != prosperChart.Name {
			continue
		}
		if !ch.enabled(c) {
			return Manifest{}, ErrNoProsperChart
		}
		return chartManifest(c, i, ch, func(v map[string]any) { v["image"] = img.values() })
	}
	return Manifest{}, ErrNoProsperChart
}

// HasProsper says whether the cluster's platform runs prosper's chart.
func HasProsper(c clusterfile.Cluster) bool { return prosperChart.enabled(c) }
