package platform

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestSecret(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr []string // substrings; nil means success
	}{
		{"both set", map[string]string{EnvAccessKeyID: "id1", EnvSecretAccessKey: "key1"}, nil},
		{"id missing", map[string]string{EnvSecretAccessKey: "key1"}, []string{EnvAccessKeyID}},
		{"key missing", map[string]string{EnvAccessKeyID: "id1"}, []string{EnvSecretAccessKey}},
		{"both missing", nil, []string{EnvAccessKeyID + " and " + EnvSecretAccessKey, "acme-pg"}},
	}
	c := loadCluster(t, "example")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Secret(c, env(tt.vars))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if !strings.Contains(err.Error(), EnvAccessKeyID) == (tt.vars[EnvAccessKeyID] == "") {
					t.Errorf("error %q names a variable that is set, or not one that is missing", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Kind       string
				Metadata   struct{ Name, Namespace string }
				StringData map[string]string `yaml:"stringData"`
			}
			if err := yaml.Unmarshal(m.Data, &s); err != nil {
				t.Fatal(err)
			}
			if s.Kind != "Secret" || s.Metadata.Name != BackupSecretName || s.Metadata.Namespace != Namespace {
				t.Errorf("secret %+v", s)
			}
			if s.StringData["ACCESS_KEY_ID"] != "id1" || s.StringData["ACCESS_SECRET_KEY"] != "key1" || s.StringData["Region"] == "" {
				t.Errorf("stringData %v", s.StringData)
			}
		})
	}

	bare := loadCluster(t, "minimal")
	if _, err := Secret(bare, env(nil)); !errors.Is(err, ErrNoBackup) {
		t.Errorf("cluster without backup: err %v, want ErrNoBackup", err)
	}
}
