// Package helm holds prosper's Helm chart, embedded in the binary so that
// "prosper install" and the k3s platform stack install the chart of the same
// build, with nothing to download.
package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"time"
)

// ChartName is the chart's name: its directory here and in its archive.
// ChartVersion is Chart.yaml's version, which a test keeps in step.
const (
	ChartName    = "prosper"
	ChartVersion = "0.1.0"
)

//go:embed all:prosper
var files embed.FS

// Chart is the chart's directory: Chart.yaml, values.yaml, values.schema.json
// and templates/ at its root.
func Chart() fs.FS {
	sub, err := fs.Sub(files, ChartName)
	if err != nil {
		panic(err) // the embedded directory is there by construction
	}
	return sub
}

// archiveTime is every entry's modification time in the archive: a fixed time
// makes the archive, and so the HelmChart manifests that carry it, the same
// from one build to the next.
var archiveTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Package returns the chart as a gzipped tar archive, as "helm package" makes
// it: every file under the directory prosper/. The same chart gives the same
// bytes.
func Package() ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	// fs.WalkDir visits in lexical order, so the entries' order is stable too.
	err = fs.WalkDir(files, ChartName, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name: path.Clean(name), Mode: 0o644, Size: int64(len(data)),
			ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("package chart: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("package chart: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("package chart: %w", err)
	}
	return buf.Bytes(), nil
}
