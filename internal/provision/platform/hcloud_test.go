package platform

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

func TestCloudChartsOnlyOnHetzner(t *testing.T) {
	tests := []struct {
		cluster string
		want    bool
	}{
		{"example", true}, // spec.provider.hetzner
		{"ssh", false},
		{"minimal", false}, // ssh provider, platform switched off
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			ms, err := Manifests(loadCluster(t, tt.cluster))
			if err != nil {
				t.Fatal(err)
			}
			hcs := parseHelmCharts(t, ms)
			for _, name := range []string{"hcloud-ccm", "hcloud-csi"} {
				if _, ok := hcs[name]; ok != tt.want {
					t.Errorf("HelmChart %s present = %v, want %v", name, ok, tt.want)
				}
			}
			for _, m := range ms {
				if !tt.want && strings.Contains(string(m.Data), "hcloud") {
					t.Errorf("manifest %s on a cluster not on Hetzner", m.Name)
				}
			}
		})
	}
}

// values parses a HelmChart's valuesContent.
func values(t *testing.T, hc helmChartObject) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// at walks nested maps along path.
func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestCloudChartValues(t *testing.T) {
	c := loadCluster(t, "example")
	ms, err := Manifests(c)
	if err != nil {
		t.Fatal(err)
	}
	hcs := parseHelmCharts(t, ms)

	// The names the charts read from the Secret must be those HcloudSecret writes.
	sec, err := HcloudSecret(c, func(string) string { return "tok" })
	if err != nil {
		t.Fatal(err)
	}
	var secret struct {
		Metadata   objectMeta        `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
	}
	if err := yaml.Unmarshal(sec.Data, &secret); err != nil {
		t.Fatal(err)
	}

	ccm := hcs["hcloud-ccm"]
	if ccm.Spec.TargetNamespace != secret.Metadata.Namespace {
		t.Errorf("CCM runs in %s, its Secret is in %s", ccm.Spec.TargetNamespace, secret.Metadata.Namespace)
	}
	v := values(t, ccm)
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"networking.enabled", at(v, "networking", "enabled"), true},
		{"networking.clusterCIDR", at(v, "networking", "clusterCIDR"), k3sClusterCIDR},
		{"network secret", at(v, "networking", "network", "valueFrom", "secretKeyRef", "name"), secret.Metadata.Name},
		{"network key holds the network's name", secret.StringData[at(v, "networking", "network", "valueFrom", "secretKeyRef", "key").(string)], c.Metadata.Name},
		{"default LB location", at(v, "env", "HCLOUD_LOAD_BALANCERS_LOCATION", "value"), c.Spec.Provider.Hetzner.Locations[0]},
		{"LB targets over the private network", at(v, "env", "HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP", "value"), "true"},
	}
	csi := hcs["hcloud-csi"]
	if csi.Spec.TargetNamespace != secret.Metadata.Namespace {
		t.Errorf("CSI driver runs in %s, its Secret is in %s", csi.Spec.TargetNamespace, secret.Metadata.Namespace)
	}
	v = values(t, csi)
	tokenKey, _ := at(v, "controller", "hcloudToken", "existingSecret", "key").(string)
	classes, _ := v["storageClasses"].([]any)
	if len(classes) != 1 {
		t.Fatalf("storageClasses = %v, want one", v["storageClasses"])
	}
	checks = append(checks, []struct {
		name string
		got  any
		want any
	}{
		{"volume label", at(v, "controller", "volumeExtraLabels", clusterfile.LabelCluster), c.Metadata.Name},
		{"token secret", at(v, "controller", "hcloudToken", "existingSecret", "name"), secret.Metadata.Name},
		{"token key holds the token", secret.StringData[tokenKey], "tok"},
		{"default StorageClass", at(classes[0], "defaultStorageClass"), true},
		{"volumes deleted with their claim", at(classes[0], "reclaimPolicy"), "Delete"},
	}...)
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if ccm.Spec.Version == "" || csi.Spec.Version == "" {
		t.Error("unpinned cloud chart")
	}
}

func TestHcloudSecret(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	c := loadCluster(t, "example")
	m, err := HcloudSecret(c, env(map[string]string{EnvHcloudToken: "s3cret-token"}))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Kind       string            `yaml:"kind"`
		Metadata   objectMeta        `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
	}
	if err := yaml.Unmarshal(m.Data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Kind != "Secret" || s.Metadata.Name != "hcloud" || s.Metadata.Namespace != "kube-system" {
		t.Errorf("got %s %s/%s, want Secret kube-system/hcloud", s.Kind, s.Metadata.Namespace, s.Metadata.Name)
	}
	if s.StringData["token"] != "s3cret-token" || s.StringData["network"] != "acme-prod" {
		t.Errorf("stringData = %v", s.StringData)
	}
	if s.Metadata.Labels[clusterfile.LabelCluster] != "acme-prod" {
		t.Errorf("labels = %v", s.Metadata.Labels)
	}
	// The token is in the Secret only, never in the charts' values.
	ms, _ := Manifests(c)
	if strings.Contains(string(joined(ms)), "s3cret-token") {
		t.Error("the token leaked into the HelmCharts")
	}

	_, err = HcloudSecret(c, env(nil))
	if err == nil || !strings.Contains(err.Error(), EnvHcloudToken) || !strings.Contains(err.Error(), "acme-prod") {
		t.Errorf("without a token: error %v, want one naming %s and the cluster", err, EnvHcloudToken)
	}
	if _, err := HcloudSecret(loadCluster(t, "ssh"), env(map[string]string{EnvHcloudToken: "x"})); !errors.Is(err, ErrNotHetzner) {
		t.Errorf("ssh cluster: error %v, want ErrNotHetzner", err)
	}
}
