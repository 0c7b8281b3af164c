package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"regexp"
	"testing"
)

func TestChartVersionInStep(t *testing.T) {
	data, err := fs.ReadFile(Chart(), "Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version: (\S+)$`).FindSubmatch(data)
	if m == nil || string(m[1]) != ChartVersion {
		t.Errorf("Chart.yaml's version %q, ChartVersion %q: change both together", m, ChartVersion)
	}
	if !bytes.Contains(data, []byte("name: "+ChartName+"\n")) {
		t.Errorf("Chart.yaml does not name the chart %s", ChartName)
	}
}

func TestPackage(t *testing.T) {
	a, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Package()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two archives of the same chart differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
		want, err := fs.ReadFile(files, h.Name)
		if err != nil {
			t.Errorf("%s: not in the chart: %v", h.Name, err)
			continue
		}
		got, _ := io.ReadAll(tr)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs from the chart's", h.Name)
		}
	}
	for _, want := range []string{"prosper/Chart.yaml", "prosper/values.yaml", "prosper/values.schema.json", "prosper/templates/deployment.yaml", "prosper/templates/router.yaml", "prosper/templates/nats.yaml", "prosper/.helmignore"} {
		if !names[want] {
			t.Errorf("archive lacks %s: %v", want, names)
		}
	}
}
