// Package install renders prosper's own Helm chart (deploy/helm/prosper, embedded
// in the binary) with the Helm SDK and applies it to a cluster by server-side
// apply, as "prosper install" does; Package gives the chart as an archive for
// k3s's helm-controller.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	helmchart "github.com/prosperhq/prosper/deploy/helm"
)

// Defaults of Options.
const (
	DefaultNamespace = "prosper"
	ReleaseName      = "prosper"
)

// ErrInvalidValues is wrapped by the errors of values that the chart refuses:
// a key it does not know, a value of the wrong type, a required one missing.
var ErrInvalidValues = errors.New("invalid values")

// Options say what to render.
type Options struct {
	// Namespace is where the control plane runs; DefaultNamespace when empty.
	Namespace string
	// Values override the chart's values.yaml, as Helm's --values and --set do:
	// see ReadValuesFile and SetValue.
	Values map[string]any
}

// Object is one Kubernetes object of the rendered chart.
type Object struct {
	// Template is the chart file the object came from, such as
	// prosper/templates/deployment.yaml; empty for the namespace, which the
	// installer adds.
	Template string
	*unstructured.Unstructured
}

// Chart loads the embedded chart.
func Chart() (*chart.Chart, error) {
	src := helmchart.Chart()
	var files []*loader.BufferedFile
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart: %w", err)
	}
	return ch, nil
}

// Render renders the chart with the options' values and returns its objects in
// apply order (see kindOrder), headed by the namespace. Values the chart's
// schema or templates refuse give an error wrapping ErrInvalidValues.
func Render(opts Options) ([]Object, error) {
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	ch, err := Chart()
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(ch, opts.Values,
		chartutil.ReleaseOptions{Name: ReleaseName, Namespace: ns, Revision: 1, IsInstall: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidValues, explain(err))
	}
	// The objects' managed-by label says who applies them: prosper here, Helm
	// when k3s's helm-controller installs the same chart.
	if rel, ok := vals["Release"].(map[string]any); ok {
		rel["Service"] = "prosper"
	}
	rendered, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidValues, explain(err))
	}
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{
			"app.kubernetes.io/managed-by": "prosper",
		}},
	}}
	out := []Object{{Unstructured: nsObj}}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue // NOTES.txt and the like are text for people
		}
		for _, doc := range sortedDocs(releaseutil.SplitManifests(rendered[name])) {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("chart template %s renders invalid YAML: %w", name, err)
			}
			if len(m) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: m}
			if obj.GetKind() == "" || obj.GetName() == "" {
				return nil, fmt.Errorf("chart template %s renders an object without kind or name", name)
			}
			out = append(out, Object{Template: name, Unstructured: obj})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].GetKind()) < rank(out[j].GetKind()) })
	return out, nil
}

// kindOrder is the apply order: what a kind refers to comes before it (the
// service account before the binding and the pods, the claim and the Secret
// before the Deployment that mounts and reads them, the Services before the
// Ingress that routes to them).
var kindOrder = []string{
	"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"PersistentVolumeClaim", "Secret", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "Ingress",
}

func rank(kind string) int {
	for i, k := range kindOrder {
		if k == kind {
			return i
		}
	}
	return len(kindOrder) // an unknown kind last, where all it may refer to exists
}

// sortedDocs returns SplitManifests' documents in their order in the file.
func sortedDocs(docs map[string]string) []string {
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = docs[k]
	}
	return out
}

// YAML writes the objects as one multi-document stream, each headed by the
// template it came from, as "helm template" prints them.
func YAML(objs []Object) ([]byte, error) {
	var b bytes.Buffer
	for _, o := range objs {
		b.WriteString("---\n")
		if o.Template != "" {
			b.WriteString("# Source: " + o.Template + "\n")
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// explain turns a Helm error into one line that says what is wrong with the
// values: without Helm's preamble, the schema's complaints (one per line) joined
// with "; ", a template's "required" message without its template position.
func explain(err error) string {
	s := err.Error()
	if _, rest, ok := strings.Cut(s, "in the following chart(s):"); ok {
		s = strings.TrimPrefix(strings.TrimSpace(rest), helmchart.ChartName+":")
	}
	if strings.HasPrefix(s, "execution error at (") {
		if _, rest, ok := strings.Cut(s, "): "); ok {
			s = rest
		}
	}
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
		if line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// Package returns the chart as a .tgz archive, the same bytes for the same
// build, for k3s's HelmChart spec.chartContent (base64 of it).
func Package() ([]byte, error) { return helmchart.Package() }
