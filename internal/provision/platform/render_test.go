package platform

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// minimalYAML is a cluster with every platform component switched off.
const minimalYAML = `apiVersion: prosper.dev/v1alpha1
kind: Cluster
metadata: {name: bare}
spec:
  provider:
    ssh:
      hosts: [{address: 198.18.0.10, pool: control-plane}]
  platform: {nats: false, postgres: {enabled: false}, registry: false, metrics: false, logs: false}
`

func loadCluster(t *testing.T, name string) clusterfile.Cluster {
	t.Helper()
	if name == "minimal" {
		c, err := clusterfile.Parse("minimal.yaml", []byte(minimalYAML))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := clusterfile.Load(filepath.Join("..", "clusterfile", "testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// joined is the manifests as one multi-document stream, each headed by its file name.
func joined(ms []Manifest) []byte {
	var b bytes.Buffer
	for _, m := range ms {
		b.WriteString("# " + m.Name + "\n---\n")
		b.Write(m.Data)
	}
	return b.Bytes()
}

func TestManifestsGolden(t *testing.T) {
	for _, name := range []string{"example", "ssh", "minimal"} {
		t.Run(name, func(t *testing.T) {
			ms, err := Manifests(loadCluster(t, name))
			if err != nil {
				t.Fatal(err)
			}
			got := joined(ms)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update and review the diff):\n%s", path, got)
			}
			again, _ := Manifests(loadCluster(t, name))
			if !bytes.Equal(joined(again), got) {
				t.Error("two renderings of the same cluster differ")
			}
		})
	}
}

// helmChartObject is the part of a HelmChart the tests look at.
type helmChartObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Repo            string `yaml:"repo"`
		Chart           string `yaml:"chart"`
		Version         string `yaml:"version"`
		TargetNamespace string `yaml:"targetNamespace"`
		ValuesContent   string `yaml:"valuesContent"`
	} `yaml:"spec"`
}

func parseHelmCharts(t *testing.T, ms []Manifest) map[string]helmChartObject {
	t.Helper()
	out := map[string]helmChartObject{}
	for _, m := range ms {
		var o helmChartObject
		if err := yaml.Unmarshal(m.Data, &o); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if o.Kind != "HelmChart" {
			continue
		}
		out[strings.TrimPrefix(o.Metadata.Name, releasePrefix)] = o
	}
	return out
}

func TestValuesAndPlacement(t *testing.T) {
	tests := []struct {
		cluster      string
		platformPool bool
		components   []string
	}{
		{"example", true, []string{"hcloud-ccm", "hcloud-csi", "nats", "cloudnative-pg", "postgres", "registry", "metrics", "logs", "prosper"}},
		{"ssh", false, []string{"nats", "cloudnative-pg", "postgres", "registry", "metrics", "logs", "prosper"}},
		{"minimal", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			ms, err := Manifests(loadCluster(t, tt.cluster))
			if err != nil {
				t.Fatal(err)
			}
			hcs := parseHelmCharts(t, ms)
			if len(hcs) != len(tt.components) {
				t.Fatalf("%d HelmCharts, want %d: %v", len(hcs), len(tt.components), hcs)
			}
			for _, name := range tt.components {
				hc, ok := hcs[name]
				if !ok {
					t.Fatalf("no HelmChart for %s", name)
				}
				ch := chartNamed(t, name)
				if hc.Spec.Repo != ch.Repo || hc.Spec.Chart != ch.Chart || hc.Spec.Version != ch.Version {
					t.Errorf("%s: chart %s/%s@%s, want the table's %s/%s@%s", name,
						hc.Spec.Repo, hc.Spec.Chart, hc.Spec.Version, ch.Repo, ch.Chart, ch.Version)
				}
				target := Namespace
				if ch.TargetNamespace != "" {
					target = ch.TargetNamespace
				}
				if hc.Metadata.Namespace != "kube-system" || hc.Spec.TargetNamespace != target {
					t.Errorf("%s: namespace %q target %q", name, hc.Metadata.Namespace, hc.Spec.TargetNamespace)
				}
				var values map[string]any
				if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &values); err != nil {
					t.Fatalf("%s: valuesContent is not YAML: %v", name, err)
				}
				hasSelector := strings.Contains(hc.Spec.ValuesContent, clusterfile.LabelPlatform)
				if want := tt.platformPool && ch.Heavy; hasSelector != want {
					t.Errorf("%s: platform node selector present = %v, want %v:\n%s", name, hasSelector, want, hc.Spec.ValuesContent)
				}
				if hasSelector && !strings.Contains(hc.Spec.ValuesContent, "NoSchedule") {
					t.Errorf("%s: node selector without the toleration of the platform taint", name)
				}
			}
		})
	}
}

func chartNamed(t *testing.T, name string) Chart {
	for _, c := range Charts() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no chart %s in the table", name)
	return Chart{}
}

func TestChartsPinned(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Charts() {
		if seen[c.Name] {
			t.Errorf("chart %s listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.Version == "" || strings.ContainsAny(c.Version, "^~*<>=x ") || strings.HasPrefix(c.Version, "v") {
			t.Errorf("%s: version %q is not an exact version", c.Name, c.Version)
		}
		if c.Content != nil {
			if c.Repo != "" {
				t.Errorf("%s: both a repo and the chart's content", c.Name)
			}
			continue
		}
		if !strings.HasPrefix(c.Repo, "https://") {
			t.Errorf("%s: repo %q is not an https URL", c.Name, c.Repo)
		}
	}
}

func TestBackupValuesReferenceSecretOnly(t *testing.T) {
	c := loadCluster(t, "example")
	ms, err := Manifests(c)
	if err != nil {
		t.Fatal(err)
	}
	pg := parseHelmCharts(t, ms)["postgres"].Spec.ValuesContent
	for _, want := range []string{BackupSecretName, "create: false", "https://fsn1.your-objectstorage.com", "bucket: acme-pg"} {
		if !strings.Contains(pg, want) {
			t.Errorf("postgres values lack %q:\n%s", want, pg)
		}
	}
	for _, leak := range []string{"accessKey", "secretKey", "AKIA"} {
		if strings.Contains(pg, leak) {
			t.Errorf("postgres values contain %q:\n%s", leak, pg)
		}
	}
	c.Spec.Platform.Postgres.Backup = nil
	ms, _ = Manifests(c)
	if pg := parseHelmCharts(t, ms)["postgres"].Spec.ValuesContent; strings.Contains(pg, "backups") {
		t.Errorf("values without a backup configure one:\n%s", pg)
	}
}
