package platform

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/prosperhq/prosper/deploy/helm"
	"github.com/prosperhq/prosper/internal/install"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// prosperHelmChart renders the cluster's manifests and returns prosper's
// HelmChart: its values and the chart archive it carries; ok is false when
// there is none.
func prosperHelmChart(t *testing.T, name string, edit func(c *clusterfile.Cluster)) (values map[string]any, archive []byte, ok bool) {
	t.Helper()
	c := loadCluster(t, name)
	if edit != nil {
		edit(&c)
	}
	ms, err := Manifests(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		var o struct {
			Metadata struct{ Name string } `yaml:"metadata"`
			Spec     struct {
				Repo          string `yaml:"repo"`
				ValuesContent string `yaml:"valuesContent"`
				ChartContent  string `yaml:"chartContent"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(m.Data, &o); err != nil {
			t.Fatal(err)
		}
		if o.Metadata.Name != releasePrefix+"prosper" {
			continue
		}
		if o.Spec.Repo != "" {
			t.Errorf("prosper's HelmChart names a repo %q: no repository serves the chart", o.Spec.Repo)
		}
		if err := yaml.Unmarshal([]byte(o.Spec.ValuesContent), &values); err != nil {
			t.Fatal(err)
		}
		archive, err := base64.StdEncoding.DecodeString(o.Spec.ChartContent)
		if err != nil {
			t.Fatalf("chartContent is not base64: %v", err)
		}
		return values, archive, true
	}
	return nil, nil, false
}

func TestProsperChart(t *testing.T) {
	t.Run("carries the binary's chart", func(t *testing.T) {
		_, archive, ok := prosperHelmChart(t, "ssh", nil)
		if !ok {
			t.Fatal("no HelmChart for prosper on a cluster with a registry")
		}
		want, err := helm.Package()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(archive, want) {
			t.Error("chartContent is not the embedded chart's archive")
		}
		ch, err := loader.LoadArchive(bytes.NewReader(archive))
		if err != nil {
			t.Fatalf("helm cannot load chartContent: %v", err)
		}
		if ch.Metadata.Version != helm.ChartVersion {
			t.Errorf("chart version %s, the row says %s", ch.Metadata.Version, helm.ChartVersion)
		}
	})

	tests := []struct {
		name      string
		cluster   string
		noPG      bool
		wantStore bool
		placed    bool
	}{
		{"postgres and a platform pool", "example", false, true, true},
		{"postgres, no platform pool", "ssh", false, true, false},
		{"SQLite without the platform's postgres", "ssh", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values, _, ok := prosperHelmChart(t, tt.cluster, func(c *clusterfile.Cluster) {
				if tt.noPG {
					c.Spec.Platform.Postgres.Enabled = false
					c.Spec.Platform.Postgres.Backup = nil
				}
			})
			if !ok {
				t.Fatal("no HelmChart for prosper")
			}
			// The values must be ones the chart takes: render it with them, as
			// the helm-controller will.
			objs, err := install.Render(install.Options{Namespace: Namespace, Values: values})
			if err != nil {
				t.Fatalf("the chart refuses the HelmChart's values: %v", err)
			}
			var deploy *unstructured.Unstructured
			for _, o := range objs {
				if o.GetKind() == "Deployment" && o.GetName() == "prosper" {
					deploy = o.Unstructured
				}
			}
			cs, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
			container := cs[0].(map[string]any)
			args, _, _ := unstructured.NestedStringSlice(container, "args")
			for _, a := range []string{"--registry=" + RegistryAddress, "--registry-insecure"} {
				if !slices.Contains(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			env, _, _ := unstructured.NestedSlice(container, "env")
			hasStore := strings.Contains(yamlString(t, env), PostgresSecret)
			if hasStore != tt.wantStore {
				t.Errorf("store from %s: %v, want %v (env %v)", PostgresSecret, hasStore, tt.wantStore, env)
			}
			selector, _, _ := unstructured.NestedStringMap(deploy.Object, "spec", "template", "spec", "nodeSelector")
			if placed := len(selector) > 0; placed != tt.placed {
				t.Errorf("on the platform pool: %v, want %v", placed, tt.placed)
			}
		})
	}

	t.Run("not without a registry", func(t *testing.T) {
		if _, _, ok := prosperHelmChart(t, "ssh", func(c *clusterfile.Cluster) { c.Spec.Platform.Registry = false }); ok {
			t.Error("a HelmChart for prosper on a cluster without a registry for its release images")
		}
	})
}

func yamlString(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
