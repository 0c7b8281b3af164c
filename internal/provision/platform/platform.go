// Package platform renders the platform stack of a cluster (NATS, PostgreSQL with
// continuous backup, a container registry, metrics and logs storage, and prosper
// itself) as k3s helm-controller HelmChart resources, one per enabled component,
// each pinned to an exact chart version with values rendered from the cluster file.
//
// The manifests can be uploaded to k3s's auto-deploy directory
// (/var/lib/rancher/k3s/server/manifests/) or applied through the API with Apply.
package platform

import (
	"encoding/base64"
	"fmt"

	"github.com/goccy/go-yaml"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Namespace is where the platform's workloads run; the HelmChart resources
// themselves live in kube-system, where k3s's helm-controller watches them.
const (
	Namespace          = "prosper-system"
	helmChartNamespace = "kube-system"
	releasePrefix      = "prosper-"
)

// Manifest is one file of Kubernetes YAML.
type Manifest struct {
	// Name is the file name, ordered so that a directory listing is the apply order.
	Name string
	Data []byte
}

// Manifests returns the platform's manifests for the cluster: its namespace, then
// one HelmChart per enabled component, in install order. The S3 credentials of the
// PostgreSQL backup are not among them: see Secret.
func Manifests(c clusterfile.Cluster) ([]Manifest, error) {
	ns, err := namespaceManifest(c)
	if err != nil {
		return nil, err
	}
	out := []Manifest{ns}
	// The cloud provider's charts are numbered apart from the platform's, so
	// that adding them did not rename (and so make k3s reinstall) the others.
	for i, ch := range cloudCharts {
		if !ch.enabled(c) {
			continue
		}
		data, err := helmChart(c, ch, ch.values(c, placement{}))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", ch.Name, err)
		}
		out = append(out, Manifest{Name: fmt.Sprintf("%02d-%s.yaml", 2+i, ch.Name), Data: data})
	}
	for i, ch := range charts {
		if !ch.enabled(c) {
			continue
		}
		m, err := chartManifest(c, i, ch, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// chartManifest renders the HelmChart of charts[i]; extra, when set, adds to
// the values the row renders.
func chartManifest(c clusterfile.Cluster, i int, ch Chart, extra func(map[string]any)) (Manifest, error) {
	p := placementFor(c)
	chp := placement{nodes: p.nodes}
	if ch.Heavy {
		chp = p
	}
	values := ch.values(c, chp)
	if extra != nil {
		extra(values)
	}
	data, err := helmChart(c, ch, values)
	if err != nil {
		return Manifest{}, fmt.Errorf("render %s: %w", ch.Name, err)
	}
	return Manifest{Name: fmt.Sprintf("%02d-%s.yaml", 10+i, ch.Name), Data: data}, nil
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

func labels(c clusterfile.Cluster) map[string]string {
	return map[string]string{clusterfile.LabelCluster: c.Metadata.Name}
}

func namespaceManifest(c clusterfile.Cluster) (Manifest, error) {
	data, err := yaml.Marshal(struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
	}{"v1", "Namespace", objectMeta{Name: Namespace, Labels: labels(c)}})
	if err != nil {
		return Manifest{}, fmt.Errorf("render namespace: %w", err)
	}
	return Manifest{Name: "00-namespace.yaml", Data: data}, nil
}

// helmChartSpec holds the fields of helm.cattle.io/v1 HelmChart that prosper sets.
type helmChartSpec struct {
	Repo            string `yaml:"repo,omitempty"`
	Chart           string `yaml:"chart"`
	Version         string `yaml:"version"`
	TargetNamespace string `yaml:"targetNamespace"`
	Bootstrap       bool   `yaml:"bootstrap,omitempty"`
	ValuesContent   string `yaml:"valuesContent"`
	// ChartContent is the base64 of the chart's archive, for a chart that no
	// repository serves; it overrides Repo.
	ChartContent string `yaml:"chartContent,omitempty"`
}

func helmChart(c clusterfile.Cluster, ch Chart, values map[string]any) ([]byte, error) {
	vals, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	target := ch.TargetNamespace
	if target == "" {
		target = Namespace
	}
	var content string
	if ch.Content != nil {
		archive, err := ch.Content()
		if err != nil {
			return nil, err
		}
		content = base64.StdEncoding.EncodeToString(archive)
	}
	return yaml.MarshalWithOptions(struct {
		APIVersion string        `yaml:"apiVersion"`
		Kind       string        `yaml:"kind"`
		Metadata   objectMeta    `yaml:"metadata"`
		Spec       helmChartSpec `yaml:"spec"`
	}{
		APIVersion: "helm.cattle.io/v1",
		Kind:       "HelmChart",
		Metadata:   objectMeta{Name: releasePrefix + ch.Name, Namespace: helmChartNamespace, Labels: labels(c)},
		Spec: helmChartSpec{
			Repo: ch.Repo, Chart: ch.Chart, Version: ch.Version,
			TargetNamespace: target, Bootstrap: ch.Bootstrap, ValuesContent: string(vals),
			ChartContent: content,
		},
	}, yaml.UseLiteralStyleIfMultiline(true))
}
