package node

import (
	"bufio"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/prosperhq/prosper/internal/runtime"
)

// The apps' output on Kubernetes reaches the same log store as local
// processes' does: the node follows the log of every container prosper runs,
// from its start, so `prosper logs`, search, live tail and crash reports work
// unchanged. The kubelet merges stdout and stderr, so every line is stdout.

// podChanged starts following the log of a pod's running container, once per
// container instance (a restart is a new instance).
func (k *kubeBackend) podChanged(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	k.podsChanged()
	if p.DeletionTimestamp != nil {
		return
	}
	if p.Status.PodIP != "" {
		k.mu.Lock()
		k.owners[p.Status.PodIP+":"+strconv.Itoa(kubePort)] = p.Namespace + "/" + p.Labels[labelWorkload]
		k.mu.Unlock()
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name != containerName || c.State.Running == nil {
			continue
		}
		key := string(p.UID) + "/" + strconv.Itoa(int(c.RestartCount))
		k.mu.Lock()
		if k.follows[key] || k.ctx.Err() != nil {
			k.mu.Unlock()
			continue
		}
		k.follows[key] = true
		k.mu.Unlock()
		inst := containerInstance{
			ns: p.Namespace, pod: p.Name, uid: string(p.UID), workload: p.Labels[labelWorkload],
			app: p.Annotations[annoApp], restarts: c.RestartCount, started: c.State.Running.StartedAt.Time,
		}
		inst.release, _ = strconv.Atoi(p.Labels[labelRelease])
		k.wg.Go(func() { k.follow(inst) })
	}
}

// podGone forgets a deleted pod's replica number and tail.
func (k *kubeBackend) podGone(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	k.podsChanged()
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.indexes[p.Labels[labelWorkload]], p.Name)
	if len(k.indexes[p.Labels[labelWorkload]]) == 0 {
		delete(k.indexes, p.Labels[labelWorkload])
	}
	delete(k.tails, p.Name)
	for key := range k.follows {
		if strings.HasPrefix(key, string(p.UID)+"/") {
			delete(k.follows, key)
		}
	}
}

// podsChanged wakes notifyLoop.
func (k *kubeBackend) podsChanged() {
	select {
	case k.changed <- struct{}{}:
	default:
	}
}

// containerInstance is one run of a pod's app container.
type containerInstance struct {
	ns, pod, uid, workload, app string
	release                     int
	restarts                    int32
	started                     time.Time
}

// follow stores a container instance's lines until it ends, coming back after
// a broken stream (the API server away) from the last line it stored; then,
// when the container ended by itself, it records the crash.
func (k *kubeBackend) follow(c containerInstance) {
	replica := k.podIndex(c.workload, c.pod)
	var last time.Time
	warned := false
	for k.ctx.Err() == nil {
		opts := &corev1.PodLogOptions{Container: containerName, Follow: true, Timestamps: true}
		if !last.IsZero() {
			opts.SinceTime = &metav1.Time{Time: last}
		}
		stream, err := k.cs.CoreV1().Pods(c.ns).GetLogs(c.pod, opts).Stream(k.ctx)
		if err != nil && !warned && k.ctx.Err() == nil {
			warned = true
			k.logger.Warn("follow a pod's log", "pod", c.ns+"/"+c.pod, "err", err)
		}
		if err == nil {
			sc := bufio.NewScanner(stream)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				ts, text, ok := strings.Cut(sc.Text(), " ")
				at, perr := time.Parse(time.RFC3339Nano, ts)
				if !ok || perr != nil {
					at, text = time.Now(), sc.Text()
				}
				if !last.IsZero() && !at.After(last) {
					continue // already stored before the stream broke
				}
				last = at
				k.storeLine(c, replica, at, text)
			}
			stream.Close()
		}
		switch state := k.instanceState(c); state {
		case "running":
			// The stream broke while the container runs: follow again.
			select {
			case <-k.ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		case "gone":
			return
		}
		break
	}
	k.recordKubeCrash(c, replica)
}

// storeLine appends one line of a container's output and keeps the pod's tail.
func (k *kubeBackend) storeLine(c containerInstance, replica int, at time.Time, text string) {
	if err := k.sup.logs.Append(runtime.LogLine{
		Time: at, App: c.app, Release: c.release, Replica: replica, Stream: "stdout", Text: text,
	}); err != nil {
		k.logger.Warn("store app output", "pod", c.pod, "err", err)
	}
	k.mu.Lock()
	tail := append(k.tails[c.pod], text)
	if len(tail) > stderrTailLines {
		tail = append([]string(nil), tail[len(tail)-stderrTailLines:]...)
	}
	k.tails[c.pod] = tail
	k.mu.Unlock()
}

// instanceState says what became of a container instance: "running",
// "ended" (it exited by itself) or "gone" (its pod is deleted or being
// deleted, or it cannot be told).
func (k *kubeBackend) instanceState(c containerInstance) string {
	// The informer may lag the log stream's end by a moment: a container that
	// still looks running 5 s after its stream ended is running (the stream
	// broke: the API server or the kubelet away).
	for range 50 {
		p, err := k.pods.Pods(c.ns).Get(c.pod)
		if err != nil || string(p.UID) != c.uid || p.DeletionTimestamp != nil {
			return "gone"
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name != containerName {
				continue
			}
			if s.RestartCount > c.restarts || s.State.Terminated != nil {
				return "ended"
			}
		}
		select {
		case <-k.ctx.Done():
			return "gone"
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "running"
}

// recordKubeCrash records the end of a container instance as a crash, with
// the lines it wrote last.
func (k *kubeBackend) recordKubeCrash(c containerInstance, replica int) {
	var t *corev1.ContainerStateTerminated
	for range 50 {
		if p, err := k.pods.Pods(c.ns).Get(c.pod); err == nil && string(p.UID) == c.uid {
			for _, s := range p.Status.ContainerStatuses {
				if s.Name != containerName {
					continue
				}
				if s.State.Terminated != nil && s.RestartCount == c.restarts {
					t = s.State.Terminated
				} else if s.LastTerminationState.Terminated != nil && s.RestartCount > c.restarts {
					t = s.LastTerminationState.Terminated
				}
			}
		}
		if t != nil || k.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if t == nil {
		return
	}
	cr := Crash{Time: t.FinishedAt.Time, App: c.app, Release: c.release, Replica: replica,
		ExitCode: int(t.ExitCode), Reason: exitWords(t)}
	if cr.Time.IsZero() {
		cr.Time = time.Now()
	}
	if sig := exitSignal(t); sig != "" {
		cr.ExitCode, cr.Signal = -1, sig
	}
	k.sup.saveCrash(cr, c.started)
	k.logger.Info("container ended", "pod", c.pod, "how", cr.Reason)
}

// exitSignal names the signal that ended a container, if one did: the
// runtime reports it as exit code 128+N.
func exitSignal(t *corev1.ContainerStateTerminated) string {
	n := int(t.Signal)
	if n == 0 && t.ExitCode > 128 && t.ExitCode < 160 {
		n = int(t.ExitCode) - 128
	}
	if n == 0 {
		return ""
	}
	if name := unix.SignalName(syscall.Signal(n)); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(n)
}
