package provision

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// TestKubeOperations runs the engine's Kubernetes calls against a real
// kube-apiserver: promoting a standby node, waiting for Ready, draining an
// empty node, and releasing load balancers the way a cloud controller's
// finalizer makes it happen.
func TestKubeOperations(t *testing.T) {
	api := kubetest.Start(t)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := parseCluster(t, "  provider: {hetzner: {}}\n  pools: [{name: w, count: 2, platform: true}]\n  standby: 1\n")
	var standby, pool clusterfile.Group
	for _, g := range c.Groups() {
		switch g.Pool {
		case clusterfile.PoolStandby:
			standby = g
		case "w":
			pool = g
		}
	}
	from := standby.Node(1)
	to := pool.Node(1)
	to.Name = from.Name
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: from.Name, Labels: from.Labels},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{
			{Key: clusterfile.LabelStandby, Value: "true", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}, // someone else's: kept
		}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("promote", func(t *testing.T) {
		if err := promote(ctx, cs, Promotion{Node: to, From: from}); err != nil {
			t.Fatal(err)
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, from.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels[clusterfile.LabelPool] != "w" || n.Labels[clusterfile.LabelStandby] != "" || n.Labels[clusterfile.LabelPlatform] != "true" {
			t.Errorf("labels after promotion: %v", n.Labels)
		}
		var taints []string
		for _, tt := range n.Spec.Taints {
			taints = append(taints, tt.ToString())
		}
		if slices.Contains(taints, clusterfile.LabelStandby+"=true:NoSchedule") || !slices.Contains(taints, clusterfile.LabelPlatform+"=true:NoSchedule") || !slices.Contains(taints, "node.kubernetes.io/not-ready:NoSchedule") {
			t.Errorf("taints after promotion: %v", taints)
		}
		// Promoting again (a re-run after a provider failure) changes nothing.
		if err := promote(ctx, cs, Promotion{Node: to, From: from}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wait for Ready names what is missing", func(t *testing.T) {
		err := waitNodesReady(ctx, cs, []clusterfile.Node{to, {Name: "acme-w-9"}}, &Progress{out: &strings.Builder{}}, 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), to.Name+": registered, not Ready") || !strings.Contains(err.Error(), "acme-w-9: not registered") {
			t.Fatalf("err %v", err)
		}
		n, _ := cs.CoreV1().Nodes().Get(ctx, to.Name, metav1.GetOptions{})
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := waitNodesReady(ctx, cs, []clusterfile.Node{to}, &Progress{out: &strings.Builder{}}, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("drain an empty node deletes it", func(t *testing.T) {
		if err := drain(ctx, cs, to.Name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Nodes().Get(ctx, to.Name, metav1.GetOptions{}); err == nil {
			t.Fatal("the node is still registered")
		}
		if err := drain(ctx, cs, to.Name, time.Second); err != nil {
			t.Fatalf("draining a node that is gone: %v", err)
		}
	})

	t.Run("load balancers released through the cloud controller's finalizer", func(t *testing.T) {
		const finalizer = "service.kubernetes.io/load-balancer-cleanup"
		lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default", Finalizers: []string{finalizer}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		internal := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}}}
		for _, s := range []*corev1.Service{lb, internal} {
			if _, err := cs.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// The cloud controller: once the Service is being deleted, it
		// deletes the load balancer (here: a second later) and drops its
		// finalizer.
		released := make(chan time.Time, 1)
		go func() {
			for range 100 {
				s, err := cs.CoreV1().Services("default").Get(ctx, "shop", metav1.GetOptions{})
				if err == nil && s.DeletionTimestamp != nil {
					time.Sleep(time.Second)
					s.Finalizers = nil
					if _, err := cs.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{}); err == nil {
						released <- time.Now()
					}
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		if err := releaseLoadBalancers(ctx, cs, &Progress{out: &strings.Builder{}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case <-released:
		default:
			t.Fatal("returned before the cloud controller released the load balancer")
		}
		if _, err := cs.CoreV1().Services("default").Get(ctx, "db", metav1.GetOptions{}); err != nil {
			t.Errorf("a ClusterIP service was touched: %v", err)
		}
		// A controller that never releases: a bounded wait naming the Service.
		stuck := lb.DeepCopy()
		stuck.Name, stuck.ResourceVersion = "stuck", ""
		if _, err := cs.CoreV1().Services("default").Create(ctx, stuck, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err := releaseLoadBalancers(ctx, cs, &Progress{out: &strings.Builder{}}, 3*time.Second)
		if err == nil || !strings.Contains(err.Error(), "default/stuck") {
			t.Fatalf("err %v, want a timeout naming default/stuck", err)
		}
	})
}
