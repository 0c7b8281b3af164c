// Package runtime defines how prosper runs a release: start, stop, health and logs.
//
// The terms are Kubernetes-shaped on purpose. A Spec is what a Deployment's pod
// template says (artifact or image, command, env, replicas, readiness probe), so the
// local process runtime of the embedded platform and the Kubernetes runtime that
// comes later implement the same interface and the rollout logic never changes.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when no workload with the given ID exists.
var ErrNotFound = errors.New("workload not found")

// Workload IDs: a release's workload is APP-vN; in mirror production its
// candidate is APP-vN-candidate and the control instance of the live release
// APP-vM-control. The control plane names them, the node reads them.
const (
	CandidateSuffix = "-candidate"
	ControlSuffix   = "-control"
)

// WorkloadID is the ID of the workload running release version of app.
func WorkloadID(app string, version int) string { return fmt.Sprintf("%s-v%d", app, version) }

// Verification reports whether a workload ID is a candidate or control
// instance of a verification.
func Verification(id string) bool {
	return strings.HasSuffix(id, CandidateSuffix) || strings.HasSuffix(id, ControlSuffix)
}

// Spec describes one release of one app, ready to run.
type Spec struct {
	// ID names the workload; it is unique per app and release, e.g. "shop-v3".
	ID      string `json:"id"`
	App     string `json:"app"`
	Release int    `json:"release"`
	// Artifact is where the built release lives: a directory on the local runtime,
	// an image reference on Kubernetes. The command runs with it as working directory.
	Artifact string `json:"artifact"`
	// Command is run through "/bin/sh -c", as a Procfile line is.
	Command string `json:"command"`
	// Env is added to the process environment; the runtime sets PORT itself.
	Env      map[string]string `json:"env"`
	Replicas int               `json:"replicas"`
	// HealthPath is the HTTP path probed for readiness; empty means "the port accepts
	// TCP connections".
	HealthPath string `json:"health_path"`
	// Nice lowers the CPU priority of the workload's processes, from 0 (as
	// the platform) to 19 (only what is left over). The control instance of
	// mirror production runs at 10, so that on a busy machine the live
	// release, the router and the candidate get the CPU first.
	Nice int `json:"nice,omitempty"`
}

// Replica states.
const (
	StateStarting = "starting" // process running, not yet healthy
	StateRunning  = "running"  // healthy and serving
	StateBackoff  = "backoff"  // exited; waiting before the next restart
	StateStopped  = "stopped"
)

// ReplicaStatus is what the runtime knows of one process of a workload.
type ReplicaStatus struct {
	Index    int    `json:"index"`
	State    string `json:"state"`
	Addr     string `json:"addr"` // host:port the replica listens on
	PID      int    `json:"pid,omitempty"`
	Restarts int    `json:"restarts"`
	// LastExit says how the previous process ended, in words: "exit code 2",
	// "killed by signal SIGSEGV". Empty when it never ended.
	LastExit   string    `json:"last_exit,omitempty"`
	LastExitAt time.Time `json:"last_exit_at,omitempty"`
	// StderrTail holds the last lines the process wrote to stderr (at most 20).
	StderrTail []string  `json:"stderr_tail,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	// Healthy is true once the readiness probe passed and until it fails again.
	Healthy bool `json:"healthy"`
}

// Status is the observed state of a workload.
type Status struct {
	ID       string          `json:"id"`
	App      string          `json:"app"`
	Release  int             `json:"release"`
	Replicas []ReplicaStatus `json:"replicas"`
}

// Ready reports whether every replica is healthy.
func (s Status) Ready() bool {
	if len(s.Replicas) == 0 {
		return false
	}
	for _, r := range s.Replicas {
		if !r.Healthy {
			return false
		}
	}
	return true
}

// Endpoints returns the addresses of the healthy replicas.
func (s Status) Endpoints() []string {
	var out []string
	for _, r := range s.Replicas {
		if r.Healthy {
			out = append(out, r.Addr)
		}
	}
	return out
}

// CrashLooping reports whether a replica has restarted and is not healthy now.
func (s Status) CrashLooping() bool {
	for _, r := range s.Replicas {
		if r.Restarts > 0 && !r.Healthy {
			return true
		}
	}
	return false
}

// LogQuery selects log lines.
type LogQuery struct {
	App     string        `json:"app"`
	Release int           `json:"release,omitempty"` // 0 means every release
	Since   time.Duration `json:"since,omitempty"`   // 0 means from the start
	Grep    string        `json:"grep,omitempty"`    // text the line must contain, in any case
	Follow  bool          `json:"follow,omitempty"`
}

// LogLine is one line written by a replica.
type LogLine struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Release int       `json:"release"`
	Replica int       `json:"replica"`
	Stream  string    `json:"stream"` // "stdout" or "stderr"
	// Level is debug, info, warn or error: the line's own level field when it
	// is a JSON object, else guessed from its text and stream. It is stored
	// before Text so that a search can read it from the raw record.
	Level string `json:"level,omitempty"`
	Text  string `json:"text"`
	// Msg and Fields are filled when the line is a JSON object: its msg (or
	// message) and every other key but the level. They are derived from Text
	// when lines are read, not stored twice.
	Msg    string         `json:"msg,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// Runtime runs workloads. Implementations must be safe for concurrent use.
type Runtime interface {
	// Start makes the workload run. Starting a workload that already runs with the
	// same ID is a no-op, so a restarted control plane can re-assert its state.
	Start(ctx context.Context, spec Spec) error
	// Stop ends every process of the workload, gracefully first.
	Stop(ctx context.Context, id string) error
	// List returns the status of every workload the runtime runs.
	List(ctx context.Context) ([]Status, error)
	// Logs streams matching lines to fn until ctx ends or, without Follow, the
	// stored lines are exhausted.
	Logs(ctx context.Context, q LogQuery, fn func(LogLine) error) error
}
