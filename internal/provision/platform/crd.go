package platform

import _ "embed"

//go:embed helmchart-crd.yaml
var helmChartCRD []byte

// CRD returns the HelmChart CustomResourceDefinition of k3s's helm-controller. k3s
// installs it itself; a bare API server (tests, a cluster without k3s) needs it
// applied, for real, before the HelmChart manifests can be.
func CRD() Manifest {
	return Manifest{Name: "helmchart-crd.yaml", Data: append([]byte(nil), helmChartCRD...)}
}
