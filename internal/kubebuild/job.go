package kubebuild

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/node"
)

// containerName is the build's container in its pod.
const containerName = "build"

// tailLines is how many lines of a failed step's output its error keeps.
const tailLines = 20

// ttlAfterFinished lets the cluster delete a finished Job that prosper could
// not (it died meanwhile).
const ttlAfterFinished = 10 * time.Minute

// pollEvery is how often the build's pod is looked at while it starts.
const pollEvery = 250 * time.Millisecond

// buildEnv is the environment of the build's commands over the base's own:
// a home the non-root user can write (the base does not know the user), and
// package managers told there is no terminal and nobody to ask.
var buildEnv = map[string]string{
	"HOME":                          "/tmp",
	"CI":                            "true",
	"NPM_CONFIG_UPDATE_NOTIFIER":    "false",
	"NPM_CONFIG_FUND":               "false",
	"PIP_DISABLE_PIP_VERSION_CHECK": "1",
	"PIP_NO_INPUT":                  "1",
}

// job is one build running as a Kubernetes Job.
type job struct {
	cs       kubernetes.Interface
	app      string
	dir      string
	steps    []string
	image    string
	instance string
	timeout  time.Duration
	log      io.Writer
	logger   *slog.Logger

	ns, name string
}

// run runs the steps in a Job and waits for its end, streaming the pod's log
// to j.log, then deletes the Job.
func (j *job) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	if err := ownTree(j.dir); err != nil {
		return fmt.Errorf("build %s: give the build directory to the build's user (uid %d): %w", j.app, image.UID, err)
	}
	j.ns = node.KubeNamespace(j.app)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	j.name = "build-" + release(j.dir) + hex.EncodeToString(suffix)
	fmt.Fprintf(j.log, "-----> building in the cluster on %s (Job %s/%s)\n", j.image, j.ns, j.name)
	if err := j.apply(ctx); err != nil {
		return fmt.Errorf("build %s: start the build Job: %w", j.app, err)
	}
	defer j.delete()
	pod, err := j.waitStarted(ctx)
	if err != nil {
		return j.stopped(ctx, err)
	}
	failed, tail, err := j.follow(ctx, pod)
	if err != nil {
		return j.stopped(ctx, err)
	}
	term, err := j.waitTerminated(ctx, pod)
	if err != nil {
		return j.stopped(ctx, err)
	}
	if term.ExitCode == 0 {
		return nil
	}
	step := strings.Join(j.steps, "\n")
	if failed >= 0 {
		step = j.steps[failed]
	}
	code := int(term.ExitCode)
	if term.Reason == "OOMKilled" {
		code = -1 // killed, as build.Error says it
		tail = append(tail, "(the build ran out of memory)")
	}
	return &build.Error{Command: step, ExitCode: code, Tail: tail}
}

// stopped words an error that ended the wait, saying so when it was the
// timeout.
func (j *job) stopped(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return fmt.Errorf("build %s: the build in the cluster took longer than %s: %w", j.app, j.timeout, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("build cancelled: %w", context.Cause(ctx))
	}
	return fmt.Errorf("build %s in the cluster: %w", j.app, err)
}

var releaseNumber = regexp.MustCompile(`^v?([0-9]{1,9})$`)

// release is the release number of a release directory (DATA_DIR/releases/APP/vN)
// as "vN-", for the Job's name; empty for another directory.
func release(dir string) string {
	if m := releaseNumber.FindStringSubmatch(filepath.Base(dir)); m != nil {
		return "v" + m[1] + "-"
	}
	return ""
}

// script runs each step as the machine's build does, /bin/sh -c in the tree,
// echoing it first; the first step that fails ends the script with its code.
// Its stderr goes to its stdout: the container runtime reads the two through
// separate pipes and may log them out of order, which would put an error line
// before the step that printed it, or out of the failed step's last lines.
func script(steps []string) string {
	var b strings.Builder
	b.WriteString("exec 2>&1\n")
	for _, step := range steps {
		for _, line := range strings.Split(step, "\n") {
			fmt.Fprintf(&b, "printf '%%s\\n' %s\n", shellQuote("$ "+line))
		}
		fmt.Fprintf(&b, "/bin/sh -c %s || exit $?\n", shellQuote(step))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// objects are the namespace and the Job of the build.
func (j *job) objects() (*corev1.Namespace, *batchv1.Job) {
	ns := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: j.ns, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "prosper", "app.kubernetes.io/part-of": "prosper",
		}},
	}
	labels := node.KubeLabels(j.app, "build", j.instance)
	labels["app.kubernetes.io/instance"] = j.name
	// The pod goes without the instance label: the node watches the pods of
	// this prosper by it, and a build's pod is none of its workloads.
	podLabels := maps.Clone(labels)
	delete(podLabels, "prosper.dev/instance")
	uid, gid := int64(image.UID), int64(image.GID)
	yes, no := true, false
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(buildEnv)) {
		env = append(env, corev1.EnvVar{Name: k, Value: buildEnv[k]})
	}
	env = append(env, corev1.EnvVar{Name: "PROSPER_APP", Value: j.app})
	dirType := corev1.HostPathDirectory
	// The cluster's own bound, a little later than prosper's, holds if
	// prosper dies during the build.
	deadline := int64((j.timeout + 30*time.Second) / time.Second)
	ttl := int32(ttlAfterFinished / time.Second)
	backoff := int32(0)
	grace := int64(5)
	container := corev1.Container{
		Name:            containerName,
		Image:           j.image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"/bin/sh", "-c", script(j.steps)},
		WorkingDir:      j.dir,
		Env:             env,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "release", MountPath: j.dir},
			{Name: "tmp", MountPath: "/tmp"},
		},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	jb := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: j.name, Namespace: j.ns, Labels: labels,
			Annotations: map[string]string{"prosper.dev/app": j.app, "prosper.dev/build-dir": j.dir}},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					Containers:                    []corev1.Container{container},
					AutomountServiceAccountToken:  &no,
					EnableServiceLinks:            &no,
					TerminationGracePeriodSeconds: &grace,
					Volumes: []corev1.Volume{
						// The release directory at the same path: on a one-node
						// cluster the control plane's data directory is the node's.
						{Name: "release", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: j.dir, Type: &dirType}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	return ns, jb
}

// apply creates the namespace, as the runtime does, and the Job, with
// server-side apply.
func (j *job) apply(ctx context.Context) error {
	ns, jb := j.objects()
	force := true
	opts := metav1.PatchOptions{FieldManager: node.KubeFieldManager, Force: &force}
	body, err := json.Marshal(ns)
	if err != nil {
		return err
	}
	if _, err := j.cs.CoreV1().Namespaces().Patch(ctx, ns.Name, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("namespace %s: %w", ns.Name, err)
	}
	if body, err = json.Marshal(jb); err != nil {
		return err
	}
	if _, err := j.cs.BatchV1().Jobs(j.ns).Patch(ctx, jb.Name, types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("job %s: %w", jb.Name, err)
	}
	return nil
}

// delete deletes the Job and its pod, whatever became of the build.
func (j *job) delete() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	err := j.cs.BatchV1().Jobs(j.ns).Delete(ctx, j.name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		j.logger.Warn("delete build job", "job", j.ns+"/"+j.name, "err", err, "ttl", ttlAfterFinished)
	}
}

// waitStarted waits for the Job's pod to have its container running or
// ended; a pod that cannot start says why.
func (j *job) waitStarted(ctx context.Context) (string, error) {
	why := "the build's pod was not created"
	for {
		pods, err := j.cs.CoreV1().Pods(j.ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.name})
		if err == nil && len(pods.Items) > 0 {
			p := pods.Items[0]
			why = podWaiting(&p)
			for _, c := range p.Status.ContainerStatuses {
				if c.Name != containerName {
					continue
				}
				if c.State.Running != nil || c.State.Terminated != nil {
					return p.Name, nil
				}
				if w := c.State.Waiting; w != nil && cannotStart(w.Reason) {
					return "", fmt.Errorf("the build's container cannot start on %s: %s: %s", j.image, w.Reason, w.Message)
				}
			}
			if p.Status.Phase == corev1.PodFailed {
				return "", fmt.Errorf("the build's pod failed: %s %s", p.Status.Reason, p.Status.Message)
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s (%w)", why, context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// podWaiting says what a pod that has not started waits for.
func podWaiting(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "the build's pod cannot be scheduled: " + c.Message
		}
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil {
			return "the build's container waits: " + w.Reason + " " + w.Message
		}
	}
	return "the build's pod is " + string(p.Status.Phase)
}

// cannotStart reports whether a container waits because it cannot start
// rather than because it is on its way; an image that cannot be pulled now
// will not be in the time of a push.
func cannotStart(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return true
	}
	return false
}

// follow streams the container's log to j.log until it ends. It returns
// which step was running last (-1 before the first) and the last lines of
// that step's output.
func (j *job) follow(ctx context.Context, pod string) (step int, tail []string, err error) {
	stream, err := j.cs.CoreV1().Pods(j.ns).GetLogs(pod, &corev1.PodLogOptions{Container: containerName, Follow: true}).Stream(ctx)
	if err != nil {
		return -1, nil, fmt.Errorf("read the build's log: %w", err)
	}
	defer stream.Close()
	step, tail, err = scanLog(stream, j.steps, j.log)
	if err != nil && ctx.Err() == nil {
		j.logger.Warn("build log stream broke", "job", j.ns+"/"+j.name, "err", err)
	}
	return step, tail, nil
}

// scanLog copies the output of script(steps) from r to log line by line. It
// returns which step ran last (-1 before the first) and the last lines of its
// output, its echo left out.
func scanLog(r io.Reader, steps []string, log io.Writer) (step int, tail []string, err error) {
	echoes := echoLines(steps)
	next := 0 // the next echo expected
	step = -1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		_, _ = io.WriteString(log, line+"\n")
		if next < len(echoes) && line == echoes[next].text {
			if echoes[next].first {
				step, tail = echoes[next].step, tail[:0]
			}
			next++
			continue
		}
		tail = append(tail, strings.TrimRight(line, "\r"))
		if len(tail) > tailLines {
			tail = tail[len(tail)-tailLines:]
		}
	}
	return step, tail, sc.Err()
}

// echo is a line the script prints before running a step.
type echo struct {
	text  string
	step  int
	first bool // the step's first line: the step starts
}

// echoLines are the lines script prints before each step, in order.
func echoLines(steps []string) []echo {
	var out []echo
	for i, s := range steps {
		for n, line := range strings.Split(s, "\n") {
			out = append(out, echo{text: "$ " + line, step: i, first: n == 0})
		}
	}
	return out
}

// waitTerminated waits for the build's container to end and says how.
func (j *job) waitTerminated(ctx context.Context, pod string) (*corev1.ContainerStateTerminated, error) {
	for {
		p, err := j.cs.CoreV1().Pods(j.ns).Get(ctx, pod, metav1.GetOptions{})
		if err == nil {
			for _, c := range p.Status.ContainerStatuses {
				if c.Name == containerName && c.State.Terminated != nil {
					return c.State.Terminated, nil
				}
			}
			if p.Status.Phase == corev1.PodFailed {
				return nil, fmt.Errorf("the build's pod failed: %s %s", p.Status.Reason, p.Status.Message)
			}
		} else if apierrors.IsNotFound(err) {
			return nil, errors.New("the build's pod was deleted before it finished")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the build did not finish (%w)", context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// ownTree makes the release directory and what it holds the build user's,
// as the runtime does for the apps' data directories: the build writes in it.
func ownTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, image.UID, image.GID)
	})
}
