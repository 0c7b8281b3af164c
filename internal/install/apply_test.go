package install

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// TestApply installs the chart on a real API server (no node: its pods never
// run). One server for every case, since starting one takes seconds.
func TestApply(t *testing.T) {
	api := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewApplier(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	a.Progress = &progress

	objs, err := Render(Options{Values: values(t, "registry=registry.example.com:5000", "ingress.appsDomain=apps.example.com")})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("installs every object", func(t *testing.T) {
		if err := a.Apply(ctx, objs, false); err != nil {
			t.Fatal(err)
		}
		d, err := cs.AppsV1().Deployments(DefaultNamespace).Get(ctx, "prosper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["app.kubernetes.io/name"] != "prosper" || d.Spec.Template.Spec.ServiceAccountName != "prosper" {
			t.Errorf("deployment labels %v, service account %q", d.Labels, d.Spec.Template.Spec.ServiceAccountName)
		}
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--kubernetes=in-cluster") {
			t.Errorf("args %v", args)
		}
		if _, err := cs.AppsV1().Deployments(DefaultNamespace).Get(ctx, "prosper-router", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(DefaultNamespace).Get(ctx, "prosper-router", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		for _, svc := range []string{"prosper", "prosper-router", "prosper-nats"} {
			if _, err := cs.CoreV1().Services(DefaultNamespace).Get(ctx, svc, metav1.GetOptions{}); err != nil {
				t.Error(err)
			}
		}
		ing, err := cs.NetworkingV1().Ingresses(DefaultNamespace).Get(ctx, "prosper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "*.apps.example.com" {
			t.Errorf("ingress rules %+v", ing.Spec.Rules)
		}
		for _, o := range objs {
			if !strings.Contains(progress.String(), "applied "+o.GetKind()+" ") {
				t.Errorf("progress does not tell of the %s:\n%s", o.GetKind(), progress.String())
			}
		}
	})

	t.Run("the service account may do what the runtime does and no more", func(t *testing.T) {
		sa := "system:serviceaccount:" + DefaultNamespace + ":prosper"
		tests := []struct {
			verb, group, resource, sub, ns string
			allowed                        bool
		}{
			{"create", "", "namespaces", "", "", true},
			{"patch", "", "namespaces", "", "", true},
			{"patch", "apps", "deployments", "", "prosper-shop", true},
			{"delete", "apps", "deployments", "", "prosper-shop", true},
			{"watch", "apps", "deployments", "", "", true},
			{"patch", "", "services", "", "prosper-shop", true},
			{"patch", "", "secrets", "", "prosper-shop", true},
			{"watch", "", "pods", "", "", true},
			{"get", "", "pods", "log", "prosper-shop", true},
			{"create", "batch", "jobs", "", "prosper-shop", true},
			{"patch", "batch", "jobs", "", "prosper-shop", true},
			{"delete", "batch", "jobs", "", "prosper-shop", true},
			{"create", "batch", "cronjobs", "", "prosper-shop", false},
			{"create", "", "pods", "", "prosper-shop", false},
			{"delete", "", "pods", "", "prosper-shop", false},
			{"create", "", "pods", "exec", "prosper-shop", false},
			{"get", "", "configmaps", "", "prosper-shop", false},
			{"create", "rbac.authorization.k8s.io", "clusterroles", "", "", false},
			{"patch", "apps", "daemonsets", "", "prosper-shop", false},
			{"list", "", "nodes", "", "", false},
		}
		for _, tt := range tests {
			r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authv1.SubjectAccessReview{
				Spec: authv1.SubjectAccessReviewSpec{User: sa, ResourceAttributes: &authv1.ResourceAttributes{
					Verb: tt.verb, Group: tt.group, Resource: tt.resource, Subresource: tt.sub, Namespace: tt.ns,
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status.Allowed != tt.allowed {
				t.Errorf("%s %s/%s %s in %q: allowed %v, want %v", tt.verb, tt.group, tt.resource, tt.sub, tt.ns, r.Status.Allowed, tt.allowed)
			}
		}
	})

	t.Run("applying again changes nothing", func(t *testing.T) {
		before := resourceVersions(ctx, t, cs)
		if err := a.Apply(ctx, objs, false); err != nil {
			t.Fatalf("second apply: %v", err)
		}
		after := resourceVersions(ctx, t, cs)
		if !slices.Equal(before, after) {
			t.Errorf("objects changed by a second apply of the same manifests:\nbefore %v\nafter  %v", before, after)
		}
		svcs, err := cs.CoreV1().Services(DefaultNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(svcs.Items) != 3 {
			t.Errorf("%d services after two applies, want 3", len(svcs.Items))
		}
	})

	t.Run("the NATS token survives a new install", func(t *testing.T) {
		tok, err := a.NATSToken(ctx, DefaultNamespace)
		if err != nil {
			t.Fatal(err)
		}
		rendered, _ := base64.StdEncoding.DecodeString(find(t, objs, "Secret", NATSSecret).Object["data"].(map[string]any)["token"].(string))
		if len(tok) != 32 || tok != string(rendered) {
			t.Fatalf("token read back %q, want the installed %q", tok, rendered)
		}
		if tok, err := a.NATSToken(ctx, "nowhere"); tok != "" || err != nil {
			t.Errorf("token of no install: %q %v, want none", tok, err)
		}
		// Helm's lookup, as the helm CLI and k3s's helm-controller render
		// with it, keeps the token too.
		ch, err := Chart()
		if err != nil {
			t.Fatal(err)
		}
		vals, err := chartutil.ToRenderValues(ch, values(t, "registry=r:5000"),
			chartutil.ReleaseOptions{Name: ReleaseName, Namespace: DefaultNamespace, Revision: 2, IsUpgrade: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := engine.RenderWithClient(ch, vals, api.Config)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.StdEncoding.EncodeToString([]byte(tok)); !strings.Contains(out["prosper/templates/nats.yaml"], "token: "+strconv.Quote(want)) {
			t.Errorf("helm's render with the cluster does not keep the token %s:\n%s", want, out["prosper/templates/nats.yaml"])
		}
	})

	t.Run("new values update in place", func(t *testing.T) {
		objs2, err := Render(Options{Values: values(t, "registry=other.example.com:5000", "ingress.appsDomain=apps.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Apply(ctx, objs2, false); err != nil {
			t.Fatal(err)
		}
		d, err := cs.AppsV1().Deployments(DefaultNamespace).Get(ctx, "prosper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--registry=other.example.com:5000") || slices.Contains(args, "--registry=registry.example.com:5000") {
			t.Errorf("args after the update: %v", args)
		}
	})

	t.Run("server-side dry run of every object with a PostgreSQL store", func(t *testing.T) {
		pg, err := Render(Options{Namespace: "dryrun", Values: values(t, "registry=r:5000",
			"store.existingSecret=prosper-pg", "ingress.host=prosper.example.com", "ingress.appsDomain=apps.example.com",
			"persistence.hostPath=/srv/prosper", "service.type=NodePort")})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing is stored by a dry run, so the namespace is made for real first.
		if err := a.Apply(ctx, pg[:1], false); err != nil {
			t.Fatal(err)
		}
		progress.Reset()
		if err := a.Apply(ctx, pg[1:], true); err != nil {
			t.Fatalf("server-side dry run: %v", err)
		}
		if _, err := cs.AppsV1().Deployments("dryrun").Get(ctx, "prosper", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a dry run stored the deployment: %v", err)
		}
		if progress.Len() != 0 {
			t.Errorf("a dry run tells of applied objects:\n%s", progress.String())
		}
	})

	t.Run("the API server refuses what the schema let through", func(t *testing.T) {
		bad, err := Render(Options{Namespace: "dryrun", Values: values(t, "registry=r:5000", "resources.requests.cpu=lots")})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Apply(ctx, bad[1:], true)
		if err == nil || !strings.Contains(err.Error(), "apply Deployment prosper") {
			t.Errorf("error %v, want one naming the deployment", err)
		}
	})

	t.Run("waiting tells why the control plane is not available", func(t *testing.T) {
		start := time.Now()
		err := a.WaitAvailable(ctx, DefaultNamespace, "prosper", 2*time.Second)
		if err == nil {
			t.Fatal("the deployment is available on a cluster without nodes")
		}
		for _, want := range []string{"prosper/prosper is not available after 2s", "no pod was created", "kubectl -n prosper describe deployment prosper"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the wait took %s with a 2s timeout", took)
		}
		if err := a.WaitAvailable(ctx, "nowhere", "prosper", time.Second); err == nil || !strings.Contains(err.Error(), "not there") {
			t.Errorf("waiting for a missing deployment: %v", err)
		}
	})

	t.Run("waiting reads the rollout status", func(t *testing.T) {
		// No controller runs here, so the test writes the status a controller would.
		d, err := cs.AppsV1().Deployments(DefaultNamespace).Get(ctx, "prosper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status.ObservedGeneration = d.Generation
		d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1, 1, 1
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: "Available", Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}
		if _, err := cs.AppsV1().Deployments(DefaultNamespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := a.WaitAvailable(ctx, DefaultNamespace, "prosper", 10*time.Second); err != nil {
			t.Errorf("an available deployment: %v", err)
		}
	})
}

// resourceVersions lists the installed objects' resource versions, which the
// API server bumps on any change, but the claim's.
func resourceVersions(ctx context.Context, t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	var out []string
	add := func(kind string, m metav1.Object, err error) {
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		out = append(out, kind+"="+m.GetResourceVersion())
	}
	ns := DefaultNamespace
	o1, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	add("namespace", o1, err)
	o2, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "prosper", metav1.GetOptions{})
	add("serviceaccount", o2, err)
	o3, err := cs.RbacV1().ClusterRoles().Get(ctx, "prosper", metav1.GetOptions{})
	add("clusterrole", o3, err)
	o4, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "prosper", metav1.GetOptions{})
	add("clusterrolebinding", o4, err)
	o6, err := cs.CoreV1().Services(ns).Get(ctx, "prosper", metav1.GetOptions{})
	add("service", o6, err)
	o7, err := cs.CoreV1().Services(ns).Get(ctx, "prosper-router", metav1.GetOptions{})
	add("router service", o7, err)
	o8, err := cs.AppsV1().Deployments(ns).Get(ctx, "prosper", metav1.GetOptions{})
	add("deployment", o8, err)
	o9, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, "prosper", metav1.GetOptions{})
	add("ingress", o9, err)
	o10, err := cs.AppsV1().Deployments(ns).Get(ctx, "prosper-router", metav1.GetOptions{})
	add("router deployment", o10, err)
	o11, err := cs.CoreV1().Secrets(ns).Get(ctx, NATSSecret, metav1.GetOptions{})
	add("nats secret", o11, err)
	o12, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "prosper-router", metav1.GetOptions{})
	add("router budget", o12, err)
	return out
}
