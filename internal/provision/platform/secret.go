package platform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// BackupSecretName names the Secret holding the S3 credentials of PostgreSQL's
// continuous backup; the postgres chart's values refer to it by this name.
const BackupSecretName = "prosper-postgres-backup-s3"

// Environment variables the backup credentials come from, as the AWS CLI reads them.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
)

// defaultRegion is given to S3 clients when the cluster file names no region:
// S3-compatible stores that ignore regions accept it, and AWS itself defaults to it.
const defaultRegion = "us-east-1"

// ErrNoBackup is returned by Secret for a cluster whose PostgreSQL has no backup.
var ErrNoBackup = errors.New("postgres backup is not configured")

// Secret returns the Secret with the S3 credentials of PostgreSQL's backup, read
// through env (os.Getenv in production). It names every missing variable. The
// keys are those the CloudNativePG cluster chart reads from an existing secret.
func Secret(c clusterfile.Cluster, env func(string) string) (Manifest, error) {
	pg := c.Spec.Platform.Postgres
	if !pg.Enabled || pg.Backup == nil {
		return Manifest{}, ErrNoBackup
	}
	id, key := env(EnvAccessKeyID), env(EnvSecretAccessKey)
	var missing []string
	if id == "" {
		missing = append(missing, EnvAccessKeyID)
	}
	if key == "" {
		missing = append(missing, EnvSecretAccessKey)
	}
	if len(missing) > 0 {
		return Manifest{}, fmt.Errorf("postgres backup to %s (bucket %s) needs credentials: set %s",
			pg.Backup.S3.Endpoint, pg.Backup.S3.Bucket, strings.Join(missing, " and "))
	}
	region := pg.Backup.S3.Region
	if region == "" {
		region = defaultRegion
	}
	return secretManifest(c, "05-postgres-backup-secret.yaml", BackupSecretName, Namespace, map[string]string{
		"ACCESS_KEY_ID":     id,
		"ACCESS_SECRET_KEY": key,
		"Region":            region,
	})
}

// secretManifest renders an Opaque Secret of the cluster, labelled as its own.
func secretManifest(c clusterfile.Cluster, file, name, namespace string, data map[string]string) (Manifest, error) {
	out, err := yaml.Marshal(struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   objectMeta        `yaml:"metadata"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}{
		APIVersion: "v1", Kind: "Secret", Type: "Opaque",
		Metadata:   objectMeta{Name: name, Namespace: namespace, Labels: labels(c)},
		StringData: data,
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("render secret %s: %w", name, err)
	}
	return Manifest{Name: file, Data: out}, nil
}
