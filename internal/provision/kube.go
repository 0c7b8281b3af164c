package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// kubeClient connects to the cluster with the kubeconfig prosper wrote.
func kubeClient(kubeconfig []byte) (kubernetes.Interface, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// waitNodesReady waits until every node is registered and Ready, reporting
// each once when it is, and on timeout names the ones that are not and why.
func waitNodesReady(ctx context.Context, cs kubernetes.Interface, nodes []clusterfile.Node, p *Progress, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ready := map[string]bool{}
	why := map[string]string{}
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			seen := map[string]corev1.Node{}
			for _, n := range list.Items {
				seen[n.Name] = n
			}
			for _, want := range nodes {
				if ready[want.Name] {
					continue
				}
				n, ok := seen[want.Name]
				switch {
				case !ok:
					why[want.Name] = "not registered with the API server"
				case !nodeReady(n):
					why[want.Name] = "registered, not Ready"
				default:
					ready[want.Name] = true
					p.Node(want.Name, "Ready (%s)", n.Status.NodeInfo.KubeletVersion)
				}
			}
			if len(ready) == len(nodes) {
				return nil
			}
		} else {
			why["api"] = err.Error()
		}
		select {
		case <-ctx.Done():
			var missing []string
			for _, n := range nodes {
				if !ready[n.Name] {
					missing = append(missing, n.Name+": "+why[n.Name])
				}
			}
			if len(missing) == 0 {
				missing = append(missing, "API server: "+why["api"])
			}
			return fmt.Errorf("after %s, not ready: %s", timeout, strings.Join(missing, "; "))
		case <-time.After(time.Second):
		}
	}
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// promote turns a standby node into a member of its new pool in Kubernetes:
// the pool's labels replace the standby ones and the standby taint gives way
// to the pool's taints, in one merge patch so there is no moment with both.
func promote(ctx context.Context, cs kubernetes.Interface, pr Promotion) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, pr.Node.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("promote %s: %w", pr.Node.Name, err)
	}
	labels := map[string]any{}
	for k := range pr.From.Labels {
		labels[k] = nil
	}
	for k, v := range pr.Node.Labels {
		labels[k] = v
	}
	drop := map[string]bool{}
	for _, t := range pr.From.Taints {
		drop[t.Key] = true
	}
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		if !drop[t.Key] {
			taints = append(taints, t)
		}
	}
	for _, t := range pr.Node.Taints {
		if !slices.ContainsFunc(taints, func(x corev1.Taint) bool { return x.Key == t.Key }) {
			taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
		}
	}
	if taints == nil {
		taints = []corev1.Taint{}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": labels},
		"spec":     map[string]any{"taints": taints},
	})
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Nodes().Patch(ctx, pr.Node.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "prosper"}); err != nil {
		return fmt.Errorf("promote %s: %w", pr.Node.Name, err)
	}
	return nil
}

// drain cordons a node, evicts its pods (honouring disruption budgets, as
// kubectl drain does; DaemonSet pods stay) and deletes the node object, so its
// workloads move before its machine goes.
func drain(ctx context.Context, cs kubernetes.Interface, name string, timeout time.Duration) error {
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if _, err := cs.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "prosper"}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // never registered, or already gone
		}
		return fmt.Errorf("cordon %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
		if err != nil {
			return fmt.Errorf("drain %s: list pods: %w", name, err)
		}
		var left []string
		for _, pod := range pods.Items {
			if isDaemonSetPod(pod) || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				continue
			}
			left = append(left, pod.Namespace+"/"+pod.Name)
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
			if err := cs.CoreV1().Pods(pod.Namespace).EvictV1(ctx, ev); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsTooManyRequests(err) {
				return fmt.Errorf("drain %s: evict %s/%s: %w", name, pod.Namespace, pod.Name, err)
			}
		}
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s: pods still running after %s (a disruption budget may block them): %s", name, timeout, strings.Join(left, ", "))
		case <-time.After(2 * time.Second):
		}
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}

func isDaemonSetPod(p corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// releaseLoadBalancers deletes the cluster's Services of type LoadBalancer and
// waits until they are gone: the cloud controller deletes each one's load
// balancer before it lets the Service go (its finalizer), and that is the only
// way to find them, since Hetzner's controller cannot label what it creates.
func releaseLoadBalancers(ctx context.Context, cs kubernetes.Interface, p *Progress, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deleted := map[string]bool{}
	for {
		svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		var left []string
		for _, s := range svcs.Items {
			if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			name := s.Namespace + "/" + s.Name
			left = append(left, name)
			if !deleted[name] {
				if err := cs.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return fmt.Errorf("delete service %s: %w", name, err)
				}
				deleted[name] = true
				p.Node(name, "deleted; waiting for its load balancer to go")
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load balancers of %s still there after %s: the cloud controller did not remove them", strings.Join(left, ", "), timeout)
		case <-time.After(2 * time.Second):
		}
	}
}
