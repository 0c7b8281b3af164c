package platform

import (
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Chart is one Helm chart of the platform, pinned by exact version, and how the
// cluster file turns into its values.
type Chart struct {
	// Name is the component's name: the HelmChart's and the Helm release's name
	// without the "prosper-" prefix, and the manifest's file name.
	Name string
	// Repo is the chart repository's URL; Chart the chart's name in it.
	Repo  string
	Chart string
	// Version is exact, never a range, so two runs install the same thing.
	Version string
	// Heavy components run on the platform pool when the cluster has one.
	Heavy bool
	// TargetNamespace is where the chart's workloads run; empty means Namespace.
	TargetNamespace string
	// Bootstrap charts are installed by k3s's helm-controller before the nodes
	// are ready (host network, tolerating the uninitialized taint): the cloud
	// controller manager is what makes them ready.
	Bootstrap bool
	// Content, when set, gives the chart's .tgz archive, which the HelmChart
	// carries (spec.chartContent) instead of naming a Repo to fetch it from:
	// prosper's own chart, built into the binary.
	Content func() ([]byte, error)

	enabled func(clusterfile.Cluster) bool
	values  func(c clusterfile.Cluster, p placement) map[string]any
}

// charts is the one table of pinned charts, in install order (the CloudNativePG
// operator before the PostgreSQL cluster it serves, both and the registry before
// prosper's own chart, which uses them).
var charts = []Chart{
	{
		// JetStream needs a PVC per server; nats-box (a debugging shell) stays out.
		Name: "nats", Repo: "https://nats-io.github.io/k8s/helm/charts/", Chart: "nats", Version: "2.12.3",
		Heavy:   true,
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.NATS },
		values:  natsValues,
	},
	{
		// The operator is light and must run wherever the API server's webhooks
		// reach it, so it is not pinned to the platform pool.
		Name: "cloudnative-pg", Repo: "https://cloudnative-pg.github.io/charts", Chart: "cloudnative-pg", Version: "0.27.0",
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Postgres.Enabled },
		values:  func(clusterfile.Cluster, placement) map[string]any { return map[string]any{} },
	},
	{
		Name: "postgres", Repo: "https://cloudnative-pg.github.io/charts", Chart: "cluster", Version: "0.5.0",
		Heavy:   true,
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Postgres.Enabled },
		values:  postgresValues,
	},
	{
		Name: "registry", Repo: "https://helm.twun.io", Chart: "docker-registry", Version: "3.0.0",
		Heavy:   true,
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Registry },
		values:  registryValues,
	},
	{
		// VictoriaMetrics single rather than Prometheus: one binary that scrapes and
		// stores, a fraction of Prometheus's memory for the same series, PromQL
		// compatible, and no operator or CRDs to install first.
		Name: "metrics", Repo: "https://victoriametrics.github.io/helm-charts/", Chart: "victoria-metrics-single", Version: "0.39.0",
		Heavy:   true,
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Metrics },
		values:  metricsValues,
	},
	{
		// VictoriaLogs single rather than Loki: one binary on a local volume with
		// no object store or schema config to get right, and much less memory than
		// Loki for the same logs; same repository and values shape as metrics.
		Name: "logs", Repo: "https://victoriametrics.github.io/helm-charts/", Chart: "victoria-logs-single", Version: "0.12.4",
		Heavy:   true,
		enabled: func(c clusterfile.Cluster) bool { return c.Spec.Platform.Logs },
		values:  logsValues,
	},
	prosperChart,
}

// Charts lists the pinned charts, enabled or not, in install order: the cloud
// provider's integration (see cloudCharts) first, then the platform.
func Charts() []Chart {
	out := make([]Chart, 0, len(cloudCharts)+len(charts))
	out = append(out, cloudCharts...)
	return append(out, charts...)
}

// placement is where heavy components go: nodeSelector and tolerations are nil
// when the cluster has no platform pool.
type placement struct {
	nodeSelector map[string]any
	tolerations  []any
	// nodes is the platform pool's size, 0 without one; it sizes replicas.
	nodes int
}

func placementFor(c clusterfile.Cluster) placement {
	var p placement
	for _, pool := range c.Spec.Pools {
		if pool.Platform {
			p.nodes += pool.Count
		}
	}
	if p.nodes == 0 {
		return p
	}
	p.nodeSelector = map[string]any{clusterfile.LabelPlatform: "true"}
	p.tolerations = []any{map[string]any{
		"key": clusterfile.LabelPlatform, "operator": "Equal", "value": "true", "effect": "NoSchedule",
	}}
	return p
}

// set adds the placement's nodeSelector and tolerations to m, if there are any.
func (p placement) set(m map[string]any) map[string]any {
	if p.nodeSelector != nil {
		m["nodeSelector"] = p.nodeSelector
		m["tolerations"] = p.tolerations
	}
	return m
}

// replicas is how many copies of a replicated component the platform pool holds,
// at most limit; 1 without a platform pool.
func (p placement) replicas(limit int) int {
	return min(max(p.nodes, 1), limit)
}

func natsValues(_ clusterfile.Cluster, p placement) map[string]any {
	config := map[string]any{
		"jetstream": map[string]any{
			"enabled":   true,
			"fileStore": map[string]any{"pvc": map[string]any{"size": "10Gi"}},
		},
	}
	// JetStream's RAFT needs three servers for a quorum; fewer run alone.
	if p.replicas(3) == 3 {
		config["cluster"] = map[string]any{"enabled": true, "replicas": 3}
	}
	v := map[string]any{
		"config":  config,
		"natsBox": map[string]any{"enabled": false},
	}
	if spec := p.set(map[string]any{}); len(spec) > 0 {
		v["podTemplate"] = map[string]any{"merge": map[string]any{"spec": spec}}
	}
	return v
}

func postgresValues(c clusterfile.Cluster, p placement) map[string]any {
	cluster := map[string]any{
		"instances": p.replicas(3),
		"storage":   map[string]any{"size": "10Gi"},
	}
	if affinity := p.set(map[string]any{}); len(affinity) > 0 {
		cluster["affinity"] = affinity
	}
	v := map[string]any{"type": "postgresql", "mode": "standalone", "cluster": cluster}
	b := c.Spec.Platform.Postgres.Backup
	if b == nil {
		return v
	}
	s3 := map[string]any{"bucket": b.S3.Bucket, "path": "/" + c.Metadata.Name}
	if b.S3.Region != "" {
		s3["region"] = b.S3.Region
	}
	v["backups"] = map[string]any{
		"enabled":     true,
		"provider":    "s3",
		"endpointURL": b.S3.Endpoint,
		"s3":          s3,
		// The credentials are in a Secret the orchestration creates from the
		// environment (see Secret); values only name it, so that they never end
		// up in Helm's release history or in these manifests.
		"secret":          map[string]any{"create": false, "name": BackupSecretName},
		"retentionPolicy": "30d",
	}
	return v
}

func registryValues(_ clusterfile.Cluster, p placement) map[string]any {
	return p.set(map[string]any{
		"persistence": map[string]any{"enabled": true, "size": "20Gi", "deleteEnabled": true},
		// Nodes pull through their own kube-proxy (see RegistriesYAML).
		"service": map[string]any{"type": "NodePort", "nodePort": RegistryNodePort},
	})
}

func metricsValues(_ clusterfile.Cluster, p placement) map[string]any {
	return map[string]any{"server": p.set(map[string]any{
		"retentionPeriod":  "30d",
		"persistentVolume": map[string]any{"size": "20Gi"},
		// Scrapes the cluster's nodes, pods and services itself: no agent to run.
		"scrape": map[string]any{"enabled": true},
	})}
}

func logsValues(_ clusterfile.Cluster, p placement) map[string]any {
	return map[string]any{"server": p.set(map[string]any{
		"retentionPeriod":  "14d",
		"persistentVolume": map[string]any{"size": "20Gi"},
	})}
}
