package platform

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/goccy/go-yaml"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/prosperhq/prosper/internal/install"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// TestProsperManifest checks that ProsperManifest is Manifests' HelmChart for
// prosper, same file and values, but for the image, which the chart runs.
func TestProsperManifest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		img   ProsperImage
		image string // the container's image the chart renders
	}{
		{"by digest", ProsperImage{Repository: RegistryMirror + "/prosper", Digest: digest}, RegistryMirror + "/prosper@" + digest},
		{"by tag", ProsperImage{Repository: "ghcr.io/acme/prosper", Tag: "v1.2.3"}, "ghcr.io/acme/prosper:v1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadCluster(t, "example")
			m, err := ProsperManifest(c, tt.img)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := Manifests(c)
			if err != nil {
				t.Fatal(err)
			}
			var plain *Manifest
			for i := range ms {
				if ms[i].Name == m.Name {
					plain = &ms[i]
				}
			}
			if plain == nil || !bytes.Contains(plain.Data, []byte("name: "+releasePrefix+"prosper\n")) {
				t.Fatalf("%s is not prosper's file among Manifests'", m.Name)
			}
			got, want := helmChartValues(t, m.Data), helmChartValues(t, plain.Data)
			if _, ok := want["image"]; ok {
				t.Fatalf("Manifests sets an image: %v", want["image"])
			}
			withoutImage := maps.Clone(got)
			delete(withoutImage, "image")
			if yamlString(t, withoutImage) != yamlString(t, want) {
				t.Errorf("values besides the image differ:\n%s\nwant\n%s", yamlString(t, withoutImage), yamlString(t, want))
			}
			if image := renderedImage(t, got); image != tt.image {
				t.Errorf("the control plane runs %q, want %q", image, tt.image)
			}
		})
	}

	c := loadCluster(t, "example")
	c.Spec.Platform.Registry = false
	if _, err := ProsperManifest(c, tests[0].img); !errors.Is(err, ErrNoProsperChart) || HasProsper(c) {
		t.Errorf("without a registry: %v, HasProsper %v; want %v", err, HasProsper(c), ErrNoProsperChart)
	}
	if !HasProsper(loadCluster(t, "example")) {
		t.Error("HasProsper is false on a cluster with the registry")
	}
}

// TestProsperImageFromTheClusterFile checks that a published image named by
// the cluster file is the one prosper's chart runs.
func TestProsperImageFromTheClusterFile(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct{ ref, image string }{
		{"ghcr.io/acme/prosper:v1.2.0", "ghcr.io/acme/prosper:v1.2.0"},
		{"registry.example:5000/prosper:v1", "registry.example:5000/prosper:v1"},
		{"registry.example:5000/team/prosper@" + digest, "registry.example:5000/team/prosper@" + digest},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			values, _, ok := prosperHelmChart(t, "ssh", func(c *clusterfile.Cluster) { c.Spec.Platform.ProsperImage = tt.ref })
			if !ok {
				t.Fatal("no HelmChart for prosper")
			}
			if got := renderedImage(t, values); got != tt.image {
				t.Errorf("the control plane runs %q, want %q", got, tt.image)
			}
		})
	}
}

// renderedImage renders prosper's chart with values and returns the control
// plane's image.
func renderedImage(t *testing.T, values map[string]any) string {
	t.Helper()
	objs, err := install.Render(install.Options{Namespace: Namespace, Values: values})
	if err != nil {
		t.Fatalf("the chart refuses the values: %v", err)
	}
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == "prosper" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			image, _ := cs[0].(map[string]any)["image"].(string)
			return image
		}
	}
	t.Fatal("the chart renders no prosper Deployment")
	return ""
}

// helmChartValues are the values a HelmChart manifest carries.
func helmChartValues(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var hc struct {
		Spec struct {
			ValuesContent string `yaml:"valuesContent"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &hc); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
