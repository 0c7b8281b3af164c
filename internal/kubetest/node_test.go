package kubetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// helloSource answers every request with the pod's name, so that the test can
// tell the replicas apart.
const helloSource = `package main

import (
	"net/http"
	"os"
)

func main() {
	name, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from " + name))
	})
	http.ListenAndServe(":8080", nil)
}
`

// TestNodeRunsDeploymentBehindService runs a real Deployment of a Go HTTP server on
// the node, reaches it through its Service's ClusterIP (kube-proxy's rules) and
// checks that Kubernetes replaces a deleted pod.
func TestNodeRunsDeploymentBehindService(t *testing.T) {
	start := time.Now()
	n := StartNode(t)
	t.Logf("node ready in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		t.Fatal(err)
	}

	const image = "prosper.test/hello:1"
	n.ImportImage(t, GoImage(t, image, helloSource))

	labels := map[string]string{"app": "hello"}
	replicas := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name:            "hello",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	svc, err = cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}

	pods := waitReadyPods(ctx, t, cs, 2, nil)
	t.Logf("2 pods ready %s after start", time.Since(start).Round(time.Millisecond))

	// Through the ClusterIP, from the host: kube-proxy's rules must spread the
	// requests to the pods, and every answer must come from one of them.
	url := "http://" + svc.Spec.ClusterIP + ":80/"
	seen := map[string]bool{}
	until(ctx, t, "answers from both pods through "+url, func() (bool, string) {
		body, err := get(ctx, url)
		if err != nil {
			return false, err.Error()
		}
		name := strings.TrimPrefix(body, "hello from ")
		if !pods[name] {
			t.Fatalf("answer %q is not from one of the pods %v", body, pods)
		}
		seen[name] = true
		return len(seen) == 2, fmt.Sprintf("seen %v", seen)
	})

	// Delete a pod: the ReplicaSet must replace it and the Service route to the new one.
	var victim string
	for p := range pods {
		victim = p
		break
	}
	zero := int64(0)
	if err := cs.CoreV1().Pods("default").Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	healed := waitReadyPods(ctx, t, cs, 2, map[string]bool{victim: true})
	var fresh string
	for p := range healed {
		if !pods[p] {
			fresh = p
		}
	}
	until(ctx, t, "an answer from the new pod "+fresh, func() (bool, string) {
		body, err := get(ctx, url)
		if err != nil {
			return false, err.Error()
		}
		if strings.Contains(body, victim) {
			return false, "answer from the deleted pod"
		}
		return body == "hello from "+fresh, body
	})
	t.Logf("healed and served by %s %s after start", fresh, time.Since(start).Round(time.Millisecond))
}

// waitReadyPods waits until want pods of the hello Deployment, none of them in
// exclude, are Ready, and returns their names.
func waitReadyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, want int, exclude map[string]bool) map[string]bool {
	t.Helper()
	var ready map[string]bool
	until(ctx, t, fmt.Sprintf("%d ready pods", want), func() (bool, string) {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err.Error()
		}
		ready = map[string]bool{}
		var states []string
		for _, p := range list.Items {
			states = append(states, p.Name+":"+string(p.Status.Phase)+podMessage(p))
			if exclude[p.Name] || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready[p.Name] = true
				}
			}
		}
		return len(ready) == want, strings.Join(states, ", ")
	})
	return ready
}

// podMessage is a pod's waiting reason, for the failure message.
func podMessage(p corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			return " " + w.Reason + " " + w.Message
		}
	}
	return ""
}

// until polls cond every 200 ms until it holds, failing with its last
// description when ctx ends.
func until(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, desc := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s: %s", what, desc)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// get fetches url with a short timeout and no keep-alive, so that each request
// goes through kube-proxy's load balancing again.
func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}
