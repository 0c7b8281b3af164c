package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/runtime"
)

// KubeConfig makes a node run its workloads on Kubernetes instead of as local
// processes: each release becomes a Deployment, a Service and a Secret in the
// app's namespace, and the router sends traffic to the pods' addresses.
type KubeConfig struct {
	// Kubeconfig is the file that says which cluster and how to reach it;
	// empty means the in-cluster service account.
	Kubeconfig string
	// Registry is the host[:port] release images are pushed to.
	Registry string
	// PullRegistry is the same registry as the cluster's nodes name it (in
	// k3s, a name in registries.yaml); empty means Registry.
	PullRegistry string
	// Insecure pushes over plain HTTP (loopback registries always are).
	Insecure bool
	// Instance names this prosper among others using the same cluster: only
	// its own workloads are listed, adopted or changed. Empty means the one in
	// DATA_DIR/kube-instance, created at the first start.
	Instance string
	// Resync is how often every workload is applied again, so that anything
	// changed or deleted by hand converges back; 0 means 30 s. A deleted
	// Deployment is recreated at once, without waiting for it.
	Resync time.Duration

	// ImageBases overrides the base image of a kind of build ("node",
	// "python") by reference (--image-base KIND=REF). The control plane's
	// in-cluster builds use it (internal/kubebuild); the node reads the base
	// each release recorded (kube_base.go), so it needs none of it.
	ImageBases map[string]string
}

// Labels and annotations on everything prosper creates in a cluster.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelVersion   = "app.kubernetes.io/version"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelComponent = "app.kubernetes.io/component"
	labelRelease   = "prosper.dev/release"
	labelWorkload  = "prosper.dev/workload"
	labelOwner     = "prosper.dev/instance"
	annoWorkloadID = "prosper.dev/workload-id"
	annoApp        = "prosper.dev/app"
	managedBy      = "prosper"
	fieldManager   = "prosper"
	containerName  = "app"
)

// kubeBackend runs workloads as Deployments. Its picture of the cluster comes
// from informers, so List answers from memory and keeps answering while the
// API server is away; what it was asked to run is applied again by a
// reconcile loop, so the cluster converges after any interruption.
type kubeBackend struct {
	cfg    KubeConfig
	cs     kubernetes.Interface
	sup    *Supervisor // keeps the apps' logs and crashes
	logger *slog.Logger

	factory informers.SharedInformerFactory
	deps    appslisters.DeploymentLister
	pods    corelisters.PodLister

	mu       sync.Mutex
	desired  map[string]*kubeWorkload  // by workload ID
	indexes  map[string]map[string]int // workload name → pod name → replica index
	follows  map[string]bool           // pod UID/restart count whose log is followed
	tails    map[string][]string       // pod name → last lines of its last container
	owners   map[string]string         // pod address → namespace/workload name
	onChange func()                    // called (debounced) when pods change
	changed  chan struct{}

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// kubeWorkload is one started Spec and the objects it is made of.
type kubeWorkload struct {
	spec    runtime.Spec
	ns      string
	secret  *corev1.Secret
	deploy  *appsv1.Deployment
	service *corev1.Service
}

// restConfig reads a kubeconfig file, or the in-cluster config when path is
// empty.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig given and not in a cluster: pass --kubernetes KUBECONFIG (%w)", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return c, nil
}

// newKubeBackend connects to the cluster and fills its caches; it fails when
// the API server does not answer, with what to check.
func newKubeBackend(ctx context.Context, cfg KubeConfig, sup *Supervisor, dataDir string, logger *slog.Logger) (*kubeBackend, error) {
	if cfg.Registry == "" {
		return nil, errors.New("kubernetes: a registry is required (--registry HOST:PORT) to push release images to")
	}
	if cfg.Instance == "" {
		id, err := instanceID(dataDir)
		if err != nil {
			return nil, err
		}
		cfg.Instance = id
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	rc, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.UserAgent = "prosper"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	probe, cancelProbe := context.WithTimeout(ctx, 15*time.Second)
	defer cancelProbe()
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("the Kubernetes API server at %s does not answer: %w", rc.Host, err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	k := &kubeBackend{
		cfg: cfg, cs: cs, sup: sup, logger: logger,
		desired: map[string]*kubeWorkload{}, indexes: map[string]map[string]int{},
		follows: map[string]bool{}, tails: map[string][]string{}, owners: map[string]string{},
		changed: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1), ctx: bctx, cancel: cancel,
	}
	k.factory = informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labelManagedBy + "=" + managedBy + "," + labelOwner + "=" + cfg.Instance
		}))
	depInf := k.factory.Apps().V1().Deployments()
	podInf := k.factory.Core().V1().Pods()
	k.deps, k.pods = depInf.Lister(), podInf.Lister()
	if _, err := depInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(any) { k.wake() },
	}); err != nil {
		cancel()
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.podChanged(o) },
		UpdateFunc: func(_, o any) { k.podChanged(o) },
		DeleteFunc: func(o any) { k.podGone(o) },
	}); err != nil {
		cancel()
		return nil, err
	}
	k.factory.Start(bctx.Done())
	for typ, ok := range k.factory.WaitForCacheSync(probe.Done()) {
		if !ok {
			cancel()
			k.factory.Shutdown()
			return nil, fmt.Errorf("kubernetes: could not list %v from %s in time", typ, rc.Host)
		}
	}
	k.wg.Go(k.reconcileLoop)
	k.wg.Go(k.notifyLoop)
	return k, nil
}

// setOnChange sets what to call when the pods change.
func (k *kubeBackend) setOnChange(fn func()) {
	k.mu.Lock()
	k.onChange = fn
	k.mu.Unlock()
}

// notifyLoop calls onChange after pods change, at most every 100 ms: a
// rollout changes many pods at once.
func (k *kubeBackend) notifyLoop() {
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-k.changed:
		}
		k.mu.Lock()
		fn := k.onChange
		k.mu.Unlock()
		if fn != nil {
			fn()
		}
		select {
		case <-k.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resolveAddrs replaces pod addresses by the current addresses of the
// workloads whose pods had them: its ready pods, or, when none is ready, every
// pod that has an address (the router tries another on a refused connection).
// When no address is of a known pod, the pods of the workload with ID
// fallback are taken; failing that, addrs are kept.
func (k *kubeBackend) resolveAddrs(addrs []string, fallback string) []string {
	k.mu.Lock()
	owners := map[string]bool{}
	for _, a := range addrs {
		if o := k.owners[a]; o != "" {
			owners[o] = true
		}
	}
	k.mu.Unlock()
	if len(owners) == 0 {
		if d := k.deploymentOf(fallback); d != nil {
			owners[d.Namespace+"/"+d.Name] = true
		}
	}
	if len(owners) == 0 {
		return addrs
	}
	var ready, running []string
	for o := range owners {
		ns, name, _ := strings.Cut(o, "/")
		pods, err := k.pods.Pods(ns).List(labels.SelectorFromSet(labels.Set{labelWorkload: name}))
		if err != nil {
			return addrs
		}
		for _, p := range pods {
			if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
				continue
			}
			a := p.Status.PodIP + ":" + strconv.Itoa(kubePort)
			running = append(running, a)
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = append(ready, a)
				}
			}
		}
	}
	sort.Strings(ready)
	sort.Strings(running)
	switch {
	case len(ready) > 0:
		return ready
	case len(running) > 0:
		return running
	}
	return addrs
}

// wake asks the reconcile loop for a pass now.
func (k *kubeBackend) wake() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// close stops watching the cluster. The workloads keep running there: the
// cluster, not this process, keeps them alive; the next node adopts them.
func (k *kubeBackend) close() {
	k.cancel()
	k.factory.Shutdown()
	k.wg.Wait()
}

// start applies spec's objects; a workload already started is left as it is.
// It returns once the cluster has accepted them; List tells readiness.
func (k *kubeBackend) start(ctx context.Context, spec runtime.Spec) error {
	if err := validateSpec(spec); err != nil {
		return fmt.Errorf("start workload: %w", err)
	}
	spec.Replicas = max(spec.Replicas, 1)
	k.mu.Lock()
	_, started := k.desired[spec.ID]
	k.mu.Unlock()
	if started {
		return nil
	}
	cmd, err := containerCommand(spec)
	if err != nil {
		return err
	}
	ref, err := k.releaseImage(ctx, spec, cmd)
	if err != nil {
		return err
	}
	if dir := spec.Env["DATA_DIR"]; filepath.IsAbs(dir) {
		if err := ownDataDir(dir); err != nil {
			return fmt.Errorf("%s: data directory: %w", spec.ID, err)
		}
	}
	w := k.objects(spec, ref, cmd)
	if err := k.checkOwner(ctx, w); err != nil {
		return err
	}
	if err := k.apply(ctx, w); err != nil {
		return fmt.Errorf("start workload %s on Kubernetes: %w", spec.ID, err)
	}
	k.mu.Lock()
	k.desired[spec.ID] = w
	k.mu.Unlock()
	k.logger.Info("workload applied", "workload", spec.ID, "namespace", w.ns, "image", ref, "replicas", spec.Replicas)
	return nil
}

// checkOwner refuses to take over a Deployment another prosper made (two
// prosper installs on one cluster with an app of the same name): server-side
// apply would silently make it ours.
func (k *kubeBackend) checkOwner(ctx context.Context, w *kubeWorkload) error {
	d, err := k.cs.AppsV1().Deployments(w.ns).Get(ctx, w.deploy.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start workload %s on Kubernetes: %w", w.spec.ID, err)
	}
	if owner := d.Labels[labelOwner]; owner != k.cfg.Instance {
		return fmt.Errorf("start workload %s: the Deployment %s/%s belongs to another prosper (instance %q, this one is %q): "+
			"give the app another name, or use another cluster", w.spec.ID, w.ns, w.deploy.Name, owner, k.cfg.Instance)
	}
	return nil
}

// instanceID reads DATA_DIR/kube-instance, creating it with a random ID.
func instanceID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "kube-instance")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 6)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	id := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("kubernetes: save this prosper's instance ID: %w", err)
	}
	return id, nil
}

// stop deletes the workload's objects; its pods go with its Deployment.
func (k *kubeBackend) stop(ctx context.Context, id string) error {
	k.mu.Lock()
	w := k.desired[id]
	delete(k.desired, id)
	k.mu.Unlock()
	ns, name := "", ""
	if w != nil {
		ns, name = w.ns, w.deploy.Name
	} else if d := k.deploymentOf(id); d != nil {
		ns, name = d.Namespace, d.Name
	} else {
		return fmt.Errorf("stop %s: %w", id, runtime.ErrNotFound)
	}
	if err := k.deleteObjects(ctx, ns, name); err != nil {
		return fmt.Errorf("stop %s on Kubernetes: %w", id, err)
	}
	k.logger.Info("workload deleted", "workload", id, "namespace", ns)
	return nil
}

// deleteObjects deletes a workload's Deployment (its pods go with it),
// Service and Secret; those already gone are no error.
func (k *kubeBackend) deleteObjects(ctx context.Context, ns, name string) error {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	if err := k.cs.AppsV1().Deployments(ns).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := k.cs.CoreV1().Services(ns).Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := k.cs.CoreV1().Secrets(ns).Delete(ctx, name+"-env", opts); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deploymentOf finds a workload's Deployment in the cache by its ID.
func (k *kubeBackend) deploymentOf(id string) *appsv1.Deployment {
	all, err := k.deps.List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, d := range all {
		if d.Annotations[annoWorkloadID] == id {
			return d
		}
	}
	return nil
}

// list reports every workload prosper runs in the cluster, sorted by ID, from
// the informers' caches.
func (k *kubeBackend) list() ([]runtime.Status, error) {
	deps, err := k.deps.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Status, 0, len(deps))
	for _, d := range deps {
		id := d.Annotations[annoWorkloadID]
		if id == "" || d.DeletionTimestamp != nil {
			continue
		}
		release, _ := strconv.Atoi(d.Labels[labelRelease])
		st := runtime.Status{ID: id, App: d.Annotations[annoApp], Release: release}
		sel := labels.SelectorFromSet(labels.Set{labelWorkload: d.Name})
		pods, err := k.pods.Pods(d.Namespace).List(sel)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			st.Replicas = append(st.Replicas, k.replicaStatus(d.Name, p))
		}
		sort.Slice(st.Replicas, func(i, j int) bool { return st.Replicas[i].Index < st.Replicas[j].Index })
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// replicaStatus reads one pod as a replica.
func (k *kubeBackend) replicaStatus(workload string, p *corev1.Pod) runtime.ReplicaStatus {
	rs := runtime.ReplicaStatus{Index: k.podIndex(workload, p.Name), State: runtime.StateStarting, StartedAt: p.CreationTimestamp.Time}
	if p.Status.PodIP != "" {
		rs.Addr = p.Status.PodIP + ":" + strconv.Itoa(kubePort)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name != containerName {
			continue
		}
		rs.Restarts = int(c.RestartCount)
		if t := c.LastTerminationState.Terminated; t != nil {
			rs.LastExit, rs.LastExitAt = exitWords(t), t.FinishedAt.Time
		}
		switch {
		case c.State.Running != nil:
			rs.StartedAt = c.State.Running.StartedAt.Time
		case c.State.Waiting != nil && c.RestartCount > 0:
			rs.State = runtime.StateBackoff
		case c.State.Waiting != nil && waitingFailure(c.State.Waiting.Reason):
			// The container never started: say why where a crash would be.
			rs.LastExit = "could not start: " + c.State.Waiting.Reason + ": " + c.State.Waiting.Message
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && rs.Addr != "" {
			rs.Healthy, rs.State = true, runtime.StateRunning
		}
	}
	k.mu.Lock()
	rs.StderrTail = append([]string(nil), k.tails[p.Name]...)
	k.mu.Unlock()
	return rs
}

// waitingFailure reports whether a container waits because it cannot start,
// not because it is on its way.
func waitingFailure(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return true
	}
	return false
}

// exitWords says how a container ended, as describeExit does for processes.
func exitWords(t *corev1.ContainerStateTerminated) string {
	s := "exit code " + strconv.Itoa(int(t.ExitCode))
	if sig := exitSignal(t); sig != "" {
		s = "killed by signal " + sig
	}
	if t.Reason == "OOMKilled" {
		s += " (out of memory)"
	}
	return s
}

// podIndex gives each pod of a workload a small, stable replica number: the
// lowest one free when it is first seen.
func (k *kubeBackend) podIndex(workload, pod string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.indexes[workload]
	if m == nil {
		m = map[string]int{}
		k.indexes[workload] = m
	}
	if i, ok := m[pod]; ok {
		return i
	}
	used := map[int]bool{}
	for _, i := range m {
		used[i] = true
	}
	i := 0
	for used[i] {
		i++
	}
	m[pod] = i
	return i
}

// reconcileLoop applies every started workload again every Resync, and at
// once when a Deployment is deleted, so that the cluster converges to what
// the node was asked to run.
func (k *kubeBackend) reconcileLoop() {
	t := time.NewTicker(k.cfg.Resync)
	defer t.Stop()
	for {
		all := false
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
			all = true
		case <-k.kick:
		}
		k.reconcile(all)
	}
}

// reconcile applies the workloads whose Deployment is missing, or all of
// them.
func (k *kubeBackend) reconcile(all bool) {
	k.mu.Lock()
	ws := make([]*kubeWorkload, 0, len(k.desired))
	for _, w := range k.desired {
		ws = append(ws, w)
	}
	k.mu.Unlock()
	for _, w := range ws {
		if !all {
			if _, err := k.deps.Deployments(w.ns).Get(w.deploy.Name); err == nil {
				continue
			}
		}
		ctx, cancel := context.WithTimeout(k.ctx, 30*time.Second)
		err := k.apply(ctx, w)
		cancel()
		k.mu.Lock()
		_, still := k.desired[w.spec.ID]
		k.mu.Unlock()
		if !still {
			// Stopped meanwhile: what was just applied must go too. By name:
			// the informer may not have seen it yet.
			if err := k.deleteObjects(context.WithoutCancel(k.ctx), w.ns, w.deploy.Name); err != nil {
				k.logger.Warn("delete a workload stopped during its reconcile", "workload", w.spec.ID, "err", err)
			}
			continue
		}
		if err != nil && k.ctx.Err() == nil {
			k.logger.Warn("reconcile workload", "workload", w.spec.ID, "err", err)
		}
	}
}

// objects are the Secret, Deployment and Service of a workload.
func (k *kubeBackend) objects(spec runtime.Spec, ref string, cmd []string) *kubeWorkload {
	ns := "prosper-" + dnsLabel(spec.App)
	name := dnsLabel(spec.ID)
	component := "release"
	if runtime.Verification(spec.ID) {
		component = "verification"
	}
	lbl := map[string]string{
		labelName: dnsLabel(spec.App), labelInstance: name, labelVersion: "v" + strconv.Itoa(spec.Release),
		labelManagedBy: managedBy, labelPartOf: "prosper", labelComponent: component, labelOwner: k.cfg.Instance,
		labelRelease: strconv.Itoa(spec.Release), labelWorkload: name,
	}
	anno := map[string]string{annoWorkloadID: spec.ID, annoApp: spec.App}
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: ns, Labels: lbl, Annotations: anno}
	}
	env := map[string]string{}
	for key, v := range spec.Env {
		env[key] = v
	}
	env["PORT"] = strconv.Itoa(kubePort)
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(name + "-env"), Type: corev1.SecretTypeOpaque, StringData: env,
	}
	probe := &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(kubePort)}},
		PeriodSeconds:    1,
		TimeoutSeconds:   2,
		FailureThreshold: 3,
	}
	if spec.HealthPath != "" {
		probe.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: spec.HealthPath, Port: intstr.FromInt32(kubePort)}}
	}
	uid, gid := int64(image.UID), int64(image.GID)
	nonRoot := true
	container := corev1.Container{
		Name:    containerName,
		Image:   ref,
		Command: cmd,
		// The Secret's values change when the env does, but its name does not:
		// the checksum annotation below rolls the pods.
		EnvFrom:        []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name}}}},
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: kubePort}},
		ReadinessProbe: probe,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi"),
		}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &nonRoot},
	}
	var volumes []corev1.Volume
	if dir := spec.Env["DATA_DIR"]; filepath.IsAbs(dir) {
		// The data directory prosper gave the release, at the same path on the
		// node: on a one-node cluster (k3s on one server) the live release,
		// its candidates' copies and prosper itself see the same files.
		typ := corev1.HostPathDirectoryOrCreate
		volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &typ}}})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: dir})
	}
	sum := sha256.New()
	_ = json.NewEncoder(sum).Encode(env)
	podMeta := metav1.ObjectMeta{Labels: lbl, Annotations: map[string]string{
		annoWorkloadID: spec.ID, annoApp: spec.App, "prosper.dev/env-checksum": hex.EncodeToString(sum.Sum(nil))[:16],
	}}
	replicas := int32(spec.Replicas)
	grace := int64(10)
	noToken := false
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(name),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelWorkload: name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta,
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{container},
					Volumes:                       volumes,
					TerminationGracePeriodSeconds: &grace,
					AutomountServiceAccountToken:  &noToken,
					EnableServiceLinks:            &noToken,
				},
			},
		},
	}
	service := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelWorkload: name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	return &kubeWorkload{spec: spec, ns: ns, secret: secret, deploy: deploy, service: service}
}

// apply sends a workload's objects with server-side apply: creating what is
// missing and putting back what was changed by hand, without touching fields
// other managers own.
func (k *kubeBackend) apply(ctx context.Context, w *kubeWorkload) error {
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: w.ns, Labels: map[string]string{labelManagedBy: managedBy, labelPartOf: "prosper"}},
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
	patch := func(obj any) ([]byte, error) { return json.Marshal(obj) }
	body, err := patch(ns)
	if err != nil {
		return err
	}
	if _, err := k.cs.CoreV1().Namespaces().Patch(ctx, w.ns, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("namespace %s: %w", w.ns, err)
	}
	if body, err = patch(w.secret); err != nil {
		return err
	}
	if _, err := k.cs.CoreV1().Secrets(w.ns).Patch(ctx, w.secret.Name, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("secret %s: %w", w.secret.Name, err)
	}
	if body, err = patch(w.deploy); err != nil {
		return err
	}
	if _, err := k.cs.AppsV1().Deployments(w.ns).Patch(ctx, w.deploy.Name, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("deployment %s: %w", w.deploy.Name, err)
	}
	if body, err = patch(w.service); err != nil {
		return err
	}
	if _, err := k.cs.CoreV1().Services(w.ns).Patch(ctx, w.service.Name, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("service %s: %w", w.service.Name, err)
	}
	return nil
}

// ownDataDir makes a data directory and what it holds the image's user's, so
// the app can write it from its pod: the control plane copies live data for
// candidates as root.
func ownDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Lchown(path, image.UID, image.GID)
	})
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes a name fit a Kubernetes namespace or Service name (an RFC
// 1123 label of at most 63 characters, starting with a letter). A name that
// had to change gets a short hash of the original, so two names never meet.
func dnsLabel(s string) string {
	out := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if out == "" || out[0] < 'a' || out[0] > 'z' {
		out = "w-" + out
	}
	if out != s || len(out) > 40 {
		sum := sha256.Sum256([]byte(s))
		out = strings.TrimRight(out[:min(len(out), 40)], "-") + "-" + hex.EncodeToString(sum[:])[:8]
	}
	return out
}
