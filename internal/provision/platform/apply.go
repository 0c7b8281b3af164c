package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager of everything prosper applies.
const FieldManager = "prosper"

// Apply server-side applies every object of the manifests, in order. With dryRun
// the API server validates and admits each object (dryRun=All) without storing
// it, which checks them against the real schemas, CRDs included; since nothing is
// stored, an object in a namespace that the same call would create fails the dry
// run, so create namespaces first. The first failure stops it, naming the manifest
// and the object.
func Apply(ctx context.Context, cfg *rest.Config, ms []Manifest, dryRun bool) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, m := range ms {
		objs, err := decode(m.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		for _, obj := range objs {
			if err := applyOne(ctx, dyn, mapper, obj, opts); err != nil {
				return fmt.Errorf("%s: %s %s: %w", m.Name, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	return nil
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, obj *unstructured.Unstructured, opts metav1.PatchOptions) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		// A CRD applied earlier in the same run is not in the cached discovery yet.
		mapper.Reset()
		if mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return fmt.Errorf("find the API of %s: %w", gvk, err)
		}
	}
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	var r dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == "namespace" {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		r = dyn.Resource(mapping.Resource).Namespace(ns)
	}
	_, err = r.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	return err
}

// decode splits a multi-document YAML file into objects, skipping empty documents.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode yaml: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" || obj.GetName() == "" {
			return nil, errors.New("an object lacks apiVersion, kind or metadata.name")
		}
		out = append(out, obj)
	}
}

func ptr[T any](v T) *T { return &v }
