package install

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager of the installed objects,
// the same as the Kubernetes runtime's.
const FieldManager = "prosper"

// Applier applies rendered objects to one cluster.
type Applier struct {
	dyn    dynamic.Interface
	cs     kubernetes.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// Progress, when set, is told of each object applied.
	Progress io.Writer
}

// NewApplier connects to the cluster of cfg.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Applier{dyn: dyn, cs: cs, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Apply server-side applies the objects in order, taking ownership of their
// fields from any other manager (an earlier kubectl edit), so that applying the
// same objects again changes nothing. With serverDryRun the API server
// validates and admits each object without storing it; since nothing is
// stored, the namespace must exist already. The first failure stops it,
// naming the object.
func (a *Applier) Apply(ctx context.Context, objs []Object, serverDryRun bool) error {
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if serverDryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, o := range objs {
		if err := a.applyOne(ctx, o, opts); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if a.Progress != nil && !serverDryRun {
			fmt.Fprintf(a.Progress, "applied %s %s\n", o.GetKind(), qualifiedName(o))
		}
	}
	return nil
}

func (a *Applier) applyOne(ctx context.Context, o Object, opts metav1.PatchOptions) error {
	gvk := o.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("find the API of %s: %w", gvk, err)
	}
	body, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	var r dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == "namespace" {
		r = a.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	_, err = r.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
	return err
}

func qualifiedName(o Object) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns + "/" + o.GetName()
	}
	return o.GetName()
}

// pollInterval is how often WaitAvailable looks at the Deployment.
const pollInterval = time.Second

// WaitAvailable waits up to timeout for the Deployment namespace/name to have
// rolled out: its newest generation observed, every replica updated and
// available. When it has not, the error says what its pods wait for (an image
// that cannot be pulled, a claim that is not bound) and what to look at next.
func (a *Applier) WaitAvailable(parent context.Context, namespace, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		d, err := a.cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && rolledOut(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("wait for deployment %s/%s: %w", namespace, name, parent.Err())
			}
			why := a.whyNotAvailable(namespace, name)
			return fmt.Errorf("deployment %s/%s is not available after %s: %s; see kubectl -n %s describe deployment %s, and kubectl -n %s logs deployment/%s",
				namespace, name, timeout, why, namespace, name, namespace, name)
		case <-tick.C:
		}
	}
}

func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// whyNotAvailable describes a Deployment's pods for an error message. It runs
// after the wait's deadline, so it has a short one of its own.
func (a *Applier) whyNotAvailable(namespace, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := a.cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "the deployment is not there"
	} else if err != nil {
		return "the deployment cannot be read: " + err.Error()
	}
	sel := metav1.FormatLabelSelector(d.Spec.Selector)
	pods, err := a.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "its pods cannot be listed: " + err.Error()
	}
	if len(pods.Items) == 0 {
		return "no pod was created (is the cluster's controller manager running?)"
	}
	var reasons []string
	for _, p := range pods.Items {
		reasons = append(reasons, p.Name+" "+podState(&p))
	}
	return strings.Join(reasons, ", ")
}

func podState(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "is not scheduled: " + c.Message
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			return "waits: " + w.Reason + " " + w.Message
		}
		if !cs.Ready {
			return fmt.Sprintf("is not ready (%d restarts)", cs.RestartCount)
		}
	}
	return "is " + strings.ToLower(string(p.Status.Phase))
}
