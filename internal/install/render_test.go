package install

import (
	"bytes"
	"encoding/base64"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// values builds user values from --set expressions.
func values(t *testing.T, sets ...string) map[string]any {
	t.Helper()
	v := map[string]any{}
	for _, s := range sets {
		if err := SetValue(v, s); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func find(t *testing.T, objs []Object, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o.Unstructured
		}
	}
	t.Fatalf("no %s %s among the rendered objects", kind, name)
	return nil
}

func containerOf(t *testing.T, deploy *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	return cs[0].(map[string]any)
}

func argsOf(t *testing.T, deploy *unstructured.Unstructured) []string {
	t.Helper()
	args, _, _ := unstructured.NestedStringSlice(containerOf(t, deploy), "args")
	return args
}

func TestRenderDefaults(t *testing.T) {
	objs, err := Render(Options{Values: values(t, "registry=registry.example.com:5000")})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if o.GetKind() != "Namespace" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetNamespace() != DefaultNamespace {
			t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), DefaultNamespace)
		}
		if got := o.GetLabels()["app.kubernetes.io/managed-by"]; got != "prosper" {
			t.Errorf("%s %s: managed-by %q, want prosper", o.GetKind(), o.GetName(), got)
		}
	}
	want := []string{
		"Namespace/prosper", "ServiceAccount/prosper", "ClusterRole/prosper", "ClusterRoleBinding/prosper",
		"Secret/prosper-nats", "Service/prosper-nats", "Service/prosper", "Service/prosper-router",
		"Deployment/prosper", "Deployment/prosper-router", "PodDisruptionBudget/prosper-router", "Ingress/prosper",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("objects in apply order:\n got %v\nwant %v", kinds, want)
	}

	d := find(t, objs, "Deployment", "prosper")
	args := argsOf(t, d)
	for _, a := range []string{"up", "--kubernetes=in-cluster", "--registry=registry.example.com:5000", "--listen=0.0.0.0:7070", "--http=0.0.0.0:8080", "--data-dir=/var/lib/prosper", "--nats=0.0.0.0:4222"} {
		if !slices.Contains(args, a) {
			t.Errorf("args %v lack %s", args, a)
		}
	}
	if strategy, _, _ := unstructured.NestedString(d.Object, "spec", "strategy", "type"); strategy != "Recreate" {
		t.Errorf("strategy %q, want Recreate", strategy)
	}
	c := containerOf(t, d)
	if img := c["image"]; img != "ghcr.io/prosperhq/prosper:0.1.0" {
		t.Errorf("image %v, want the repository at the chart's appVersion", img)
	}
	if got := envNames(t, c); !slices.Equal(got, []string{"GOCACHE", "GOMODCACHE", "HOME", "PROSPER_NATS_TOKEN"}) {
		t.Errorf("env %v without a store Secret: want the build caches and the NATS token only", got)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
		if p, _, _ := unstructured.NestedString(c, probe, "httpGet", "path"); p != "/api/healthz" {
			t.Errorf("%s path %q, want /api/healthz", probe, p)
		}
	}
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	if p, _, _ := unstructured.NestedString(vols[0].(map[string]any), "hostPath", "path"); p != "/var/lib/prosper" {
		t.Errorf("data volume's host path %q, want /var/lib/prosper", p)
	}
	mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
	if m := mounts[0].(map[string]any); m["mountPath"] != "/var/lib/prosper" {
		t.Errorf("data mounted at %v, want the host path's own", m["mountPath"])
	}

	ing := find(t, objs, "Ingress", "prosper")
	if class, _, _ := unstructured.NestedString(ing.Object, "spec", "ingressClassName"); class != "traefik" {
		t.Errorf("ingressClassName %q, want traefik", class)
	}
	if rules, found, _ := unstructured.NestedSlice(ing.Object, "spec", "rules"); found {
		t.Errorf("rules %v without hosts", rules)
	}
	if svc, _, _ := unstructured.NestedString(ing.Object, "spec", "defaultBackend", "service", "name"); svc != "prosper-router" {
		t.Errorf("default backend %q, want the router", svc)
	}
}

func TestRenderRBACIsExactlyWhatTheRuntimeNeeds(t *testing.T) {
	objs, err := Render(Options{Values: values(t, "registry=r:5000")})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRole", "prosper").Object, "rules")
	granted := map[string][]string{} // group/resource -> verbs
	for _, r := range rules {
		r := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(r, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		for _, g := range groups {
			for _, res := range resources {
				key := g + "/" + res
				granted[key] = append(granted[key], verbs...)
			}
		}
	}
	manage := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	want := map[string][]string{
		"/namespaces": manage, "/services": manage, "/secrets": manage, "apps/deployments": manage,
		"/pods": {"get", "list", "watch"}, "/pods/log": {"get"},
		"batch/jobs": {"create", "delete", "get", "list", "patch", "watch"}, // builds of apps that are not Go
	}
	if len(granted) != len(want) {
		t.Errorf("granted %v, want %v", granted, want)
	}
	for res, verbs := range want {
		got := slices.Sorted(slices.Values(granted[res]))
		if !slices.Equal(got, verbs) {
			t.Errorf("%s: verbs %v, want %v", res, got, verbs)
		}
	}
	binding := find(t, objs, "ClusterRoleBinding", "prosper")
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	if s := subjects[0].(map[string]any); s["name"] != "prosper" || s["namespace"] != DefaultNamespace {
		t.Errorf("binding's subject %v, want the service account prosper/prosper", s)
	}
}

func TestRenderPostgresAndIngress(t *testing.T) {
	objs, err := Render(Options{Namespace: "platform", Values: values(t,
		"registry=registry.internal:5000", "pullRegistry=127.0.0.1:30500", "registryInsecure=true",
		"store.existingSecret=prosper-pg", "store.key=url",
		"ingress.host=prosper.example.com", "ingress.appsDomain=apps.example.com",
		"persistence.hostPath=/srv/prosper", "image.tag=v9.9.9")})
	if err != nil {
		t.Fatal(err)
	}
	d := find(t, objs, "Deployment", "prosper")
	if d.GetNamespace() != "platform" {
		t.Errorf("deployment in %q, want platform", d.GetNamespace())
	}
	args := argsOf(t, d)
	for _, a := range []string{"--registry=registry.internal:5000", "--registry-pull=127.0.0.1:30500", "--registry-insecure", "--domain=apps.example.com", "--data-dir=/srv/prosper"} {
		if !slices.Contains(args, a) {
			t.Errorf("args %v lack %s", args, a)
		}
	}
	c := containerOf(t, d)
	env, _, _ := unstructured.NestedSlice(c, "env")
	if got := envNames(t, c); !slices.Equal(got, []string{"GOCACHE", "GOMODCACHE", "HOME", "PROSPER_NATS_TOKEN", "PROSPER_STORE"}) {
		t.Fatalf("env %v, want the build caches, the NATS token and PROSPER_STORE", got)
	}
	if v := env[0].(map[string]any)["value"]; v != "/srv/prosper/cache/go-build" {
		t.Errorf("GOCACHE %v, want it on the data directory", v)
	}
	e := env[4].(map[string]any)
	name, _, _ := unstructured.NestedString(e, "valueFrom", "secretKeyRef", "name")
	key, _, _ := unstructured.NestedString(e, "valueFrom", "secretKeyRef", "key")
	if e["name"] != "PROSPER_STORE" || name != "prosper-pg" || key != "url" {
		t.Errorf("store env %v, want PROSPER_STORE from prosper-pg's key url", e)
	}
	if c["image"] != "ghcr.io/prosperhq/prosper:v9.9.9" {
		t.Errorf("image %v, want tag v9.9.9", c["image"])
	}
	rules, _, _ := unstructured.NestedSlice(find(t, objs, "Ingress", "prosper").Object, "spec", "rules")
	var hosts []string
	for _, r := range rules {
		hosts = append(hosts, r.(map[string]any)["host"].(string))
	}
	if !slices.Equal(hosts, []string{"prosper.example.com", "*.apps.example.com"}) {
		t.Errorf("ingress hosts %v", hosts)
	}
	subjects, _, _ := unstructured.NestedSlice(find(t, objs, "ClusterRoleBinding", "prosper").Object, "subjects")
	if ns := subjects[0].(map[string]any)["namespace"]; ns != "platform" {
		t.Errorf("binding's subject in %v, want platform", ns)
	}
}

func TestRenderBadValues(t *testing.T) {
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{"no registry", nil, []string{"registry is required", "registry=HOST:PORT"}},
		{"unknown key", []string{"registry=r:5000", "registyr=x"}, []string{"additional properties 'registyr' not allowed"}},
		{"wrong type", []string{"registry=r:5000", "ingress.enabled=maybe"}, []string{"/ingress/enabled", "want boolean"}},
		{"relative host path", []string{"registry=r:5000", "persistence.hostPath=data"}, []string{"/persistence/hostPath"}},
		{"old claim values", []string{"registry=r:5000", "persistence.size=10Gi"}, []string{"additional properties 'size' not allowed"}},
		{"bad digest", []string{"registry=r:5000", "image.digest=latest"}, []string{"/image/digest"}},
		{"negative replicas", []string{"registry=r:5000", "router.replicas=-1"}, []string{"/router/replicas"}},
		{"bad pull policy", []string{"registry=r:5000", "image.pullPolicy=Sometimes"}, []string{"/image/pullPolicy"}},
		{"registry URL", []string{"registry=https://r:5000"}, []string{"/registry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(Options{Values: values(t, tt.sets...)})
			if !errors.Is(err, ErrInvalidValues) {
				t.Fatalf("error %v, want ErrInvalidValues", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error on several lines:\n%s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestValueSources(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.yaml")
	second := filepath.Join(dir, "second.yaml")
	os.WriteFile(first, []byte("registry: first:5000\ningress:\n  host: a.example.com\n  className: nginx\n"), 0o644)
	os.WriteFile(second, []byte("ingress:\n  host: b.example.com\n"), 0o644)
	v := map[string]any{}
	for _, f := range []string{first, second} {
		if err := ReadValuesFile(v, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetValue(v, "registry=set:5000"); err != nil {
		t.Fatal(err)
	}
	objs, err := Render(Options{Values: v})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(argsOf(t, find(t, objs, "Deployment", "prosper")), "--registry=set:5000") {
		t.Error("--set does not win over the values files")
	}
	ing := find(t, objs, "Ingress", "prosper")
	class, _, _ := unstructured.NestedString(ing.Object, "spec", "ingressClassName")
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	if class != "nginx" || len(rules) != 1 || rules[0].(map[string]any)["host"] != "b.example.com" {
		t.Errorf("class %q rules %v: want the first file's class and the second's host, merged", class, rules)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("- a list\n- not a map\n"), 0o644)
	if err := ReadValuesFile(map[string]any{}, bad); !errors.Is(err, ErrInvalidValues) || !strings.Contains(err.Error(), bad) {
		t.Errorf("a list as values: %v, want ErrInvalidValues naming the file", err)
	}
	if err := ReadValuesFile(map[string]any{}, filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if err := SetValue(map[string]any{}, "registry"); !errors.Is(err, ErrInvalidValues) || !strings.Contains(err.Error(), "KEY=VALUE") {
		t.Errorf("--set without =: %v, want ErrInvalidValues saying KEY=VALUE", err)
	}
}

func TestYAMLNamesTemplates(t *testing.T) {
	objs, err := Render(Options{Values: values(t, "registry=r:5000")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\n---\n")) + 1; n != len(objs) {
		t.Errorf("%d documents, want %d", n, len(objs))
	}
	for _, want := range []string{"# Source: prosper/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment", "kind: Namespace"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestPackage(t *testing.T) {
	a, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Package()
	if !bytes.Equal(a, b) {
		t.Error("two packagings of the same chart differ")
	}
	ch, err := loader.LoadArchive(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("helm cannot load the archive: %v", err)
	}
	if ch.Metadata.Name != "prosper" || ch.Metadata.Version != "0.1.0" || ch.Schema == nil || len(ch.Templates) < 6 {
		t.Errorf("archive's chart: %s %s, schema %v, %d templates", ch.Metadata.Name, ch.Metadata.Version, ch.Schema != nil, len(ch.Templates))
	}
	if err := ch.Validate(); err != nil {
		t.Errorf("archive's chart is not valid: %v", err)
	}
}

func envNames(t *testing.T, container map[string]any) []string {
	t.Helper()
	env, _, _ := unstructured.NestedSlice(container, "env")
	var names []string
	for _, e := range env {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	return names
}

func selectorOf(t *testing.T, obj *unstructured.Unstructured, fields ...string) map[string]string {
	t.Helper()
	m, _, err := unstructured.NestedStringMap(obj.Object, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRenderRouterReplicas(t *testing.T) {
	objs, err := Render(Options{Values: values(t, "registry=r:5000", "router.replicas=3", "router.drainSeconds=10", "nats.token=s3cret",
		"image.repository=r:5000/prosper", "image.digest=sha256:"+strings.Repeat("ab", 32))})
	if err != nil {
		t.Fatal(err)
	}
	d := find(t, objs, "Deployment", "prosper-router")
	if n := number(d, "spec", "replicas"); n != 3 {
		t.Errorf("router replicas %v, want 3", n)
	}
	c := containerOf(t, d)
	if img := c["image"]; img != "r:5000/prosper@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("router image %v, want the repository by digest", img)
	}
	if img := containerOf(t, find(t, objs, "Deployment", "prosper"))["image"]; img != c["image"] {
		t.Errorf("control plane image %v, router image %v: want the same", img, c["image"])
	}
	args := argsOf(t, d)
	for _, a := range []string{"router", "--nats=nats://$(PROSPER_NATS_SERVICE_HOST):$(PROSPER_NATS_SERVICE_PORT)", "--http=0.0.0.0:8080", "--health=0.0.0.0:8081", "--drain=10s"} {
		if !slices.Contains(args, a) {
			t.Errorf("router args %v lack %s", args, a)
		}
	}
	if grace := number(d, "spec", "template", "spec", "terminationGracePeriodSeconds"); grace <= 10 {
		t.Errorf("termination grace %v s, want more than the 10 s drain", grace)
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if p, _, _ := unstructured.NestedString(c, probe, "httpGet", "path"); p != path {
			t.Errorf("%s path %q, want %s", probe, p, path)
		}
	}
	if mount, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "automountServiceAccountToken"); mount {
		t.Error("router pods get an API token they do not need")
	}

	// The Services: the router's selects the replicas, which the control
	// plane's selector does not take in; NATS selects the control plane.
	routerSel := selectorOf(t, d, "spec", "selector", "matchLabels")
	cpSel := selectorOf(t, find(t, objs, "Deployment", "prosper"), "spec", "selector", "matchLabels")
	podLabels := selectorOf(t, d, "spec", "template", "metadata", "labels")
	if matches(cpSel, podLabels) {
		t.Errorf("the control plane's selector %v takes in the router pods %v", cpSel, podLabels)
	}
	if got := selectorOf(t, find(t, objs, "Service", "prosper-router"), "spec", "selector"); !maps.Equal(got, routerSel) {
		t.Errorf("router Service selects %v, want the replicas %v", got, routerSel)
	}
	if got := selectorOf(t, find(t, objs, "Service", "prosper-nats"), "spec", "selector"); !maps.Equal(got, cpSel) {
		t.Errorf("NATS Service selects %v, want the control plane %v", got, cpSel)
	}
	if got := selectorOf(t, find(t, objs, "PodDisruptionBudget", "prosper-router"), "spec", "selector", "matchLabels"); !maps.Equal(got, routerSel) {
		t.Errorf("disruption budget selects %v, want the replicas", got)
	}
	data := selectorOf(t, find(t, objs, "Secret", "prosper-nats"), "data")
	if tok, _ := base64.StdEncoding.DecodeString(data["token"]); string(tok) != "s3cret" {
		t.Errorf("NATS token %q, want the value given", tok)
	}

	// Without a token each render makes one, of 32 characters.
	a, _ := Render(Options{Values: values(t, "registry=r:5000")})
	b, _ := Render(Options{Values: values(t, "registry=r:5000")})
	ta := selectorOf(t, find(t, a, "Secret", "prosper-nats"), "data")["token"]
	tb := selectorOf(t, find(t, b, "Secret", "prosper-nats"), "data")["token"]
	if dec, _ := base64.StdEncoding.DecodeString(ta); len(dec) != 32 || ta == tb {
		t.Errorf("made tokens %q and %q: want two different ones of 32 characters", ta, tb)
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestRenderNoRouterReplicas(t *testing.T) {
	objs, err := Render(Options{Values: values(t, "registry=r:5000", "router.replicas=0")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.Contains(o.GetName(), "nats") || o.GetKind() == "PodDisruptionBudget" || o.GetName() == "prosper-router" && o.GetKind() == "Deployment" {
			t.Errorf("%s %s rendered without router replicas", o.GetKind(), o.GetName())
		}
	}
	d := find(t, objs, "Deployment", "prosper")
	if args := argsOf(t, d); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--nats") }) {
		t.Errorf("args %v: no NATS server without replicas", args)
	}
	cpSel := selectorOf(t, d, "spec", "selector", "matchLabels")
	if got := selectorOf(t, find(t, objs, "Service", "prosper-router"), "spec", "selector"); !maps.Equal(got, cpSel) {
		t.Errorf("router Service selects %v, want the control plane %v", got, cpSel)
	}
}

// number reads a number of a rendered object, which YAML gives as a float.
func number(obj *unstructured.Unstructured, fields ...string) float64 {
	v, _, _ := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return -1
}
