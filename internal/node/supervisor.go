package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
)

// Supervisor runs workloads as local process groups, restarts them when they
// exit and probes their readiness, as a kubelet does for pods.
type Supervisor struct {
	logger      *slog.Logger
	stopTimeout time.Duration
	logs        *logStore
	crashes     *crashStore
	pids        *pidFile
	baseEnv     []string
	backoff     backoffPolicy
	probeClient *http.Client

	// kube, when set, runs the workloads on Kubernetes; the Supervisor then
	// keeps their logs and crashes only.
	kube *kubeBackend

	mu        sync.Mutex
	workloads map[string]*workload
	closed    bool
}

var _ runtime.Runtime = (*Supervisor)(nil)

// SupervisorConfig says where a Supervisor keeps its files and how it stops.
type SupervisorConfig struct {
	// DataDir holds logs/APP.log and node-pids.json.
	DataDir string
	Logger  *slog.Logger
	// StopTimeout is how long a process may take to exit after SIGTERM before it
	// gets SIGKILL; 0 means 10s.
	StopTimeout time.Duration
	// LogMaxBytes is the size past which an app's log file is rotated; 0 means
	// 64 MiB.
	LogMaxBytes int64
	// LogKeep is how many rotated log files (APP.log.1 … APP.log.N) are kept
	// beside APP.log; 0 means 3.
	LogKeep int
	// LogMaxAge is how long log files are kept after their last line
	// (logs.max_age); 0 means DefaultLogMaxAge, less than 0 no limit.
	LogMaxAge time.Duration
	// Kube runs the workloads on a Kubernetes cluster instead of as local
	// processes; nil runs them here.
	Kube *KubeConfig
}

// workload is one started Spec and its replicas.
type workload struct {
	spec     runtime.Spec
	replicas []*replica
}

// NewSupervisor returns a Supervisor that runs nothing yet.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("supervisor: data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	logs, err := newLogStore(filepath.Join(cfg.DataDir, "logs"), cfg.LogMaxBytes, cfg.LogKeep)
	if err != nil {
		return nil, err
	}
	crashes, err := newCrashStore(filepath.Join(cfg.DataDir, "crashes"))
	if err != nil {
		return nil, err
	}
	if cfg.LogMaxAge == 0 {
		cfg.LogMaxAge = DefaultLogMaxAge
	}
	if cfg.LogMaxAge > 0 {
		logger := cfg.Logger
		logs.sweepEvery(cfg.LogMaxAge, logSweepInterval, func(err error) { logger.Warn("sweep old logs", "err", err) })
	}
	s := &Supervisor{
		logger:      cfg.Logger,
		stopTimeout: cfg.StopTimeout,
		logs:        logs,
		crashes:     crashes,
		pids:        newPidFile(filepath.Join(cfg.DataDir, pidFileName)),
		baseEnv:     baseEnv(),
		backoff:     defaultBackoff,
		probeClient: newProbeClient(),
		workloads:   make(map[string]*workload),
	}
	if cfg.Kube != nil {
		s.kube, err = newKubeBackend(context.Background(), *cfg.Kube, s, cfg.DataDir, cfg.Logger)
		if err != nil {
			logs.Close()
			return nil, err
		}
	}
	return s, nil
}

// ErrShuttingDown is returned by Start once the supervisor is closing.
var ErrShuttingDown = errors.New("the node is shutting down")

// namePattern keeps app names and workload IDs safe as file names and URL paths.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func validName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid name %q: use letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

func validateSpec(spec runtime.Spec) error {
	if err := validName(spec.ID); err != nil {
		return fmt.Errorf("workload id: %w", err)
	}
	if err := validName(spec.App); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if spec.Command == "" {
		return fmt.Errorf("workload %s has no command to run", spec.ID)
	}
	fi, err := os.Stat(spec.Artifact)
	if err != nil {
		return fmt.Errorf("artifact of %s: %w", spec.ID, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("artifact of %s: %s is not a directory", spec.ID, spec.Artifact)
	}
	return nil
}

// Start runs spec's replicas; a workload already running with the same ID is
// left as it is. It returns once the processes are launched, not when they are
// healthy: List tells readiness.
func (s *Supervisor) Start(ctx context.Context, spec runtime.Spec) error {
	if s.kube != nil {
		return s.kube.start(ctx, spec)
	}
	if err := validateSpec(spec); err != nil {
		return fmt.Errorf("start workload: %w", err)
	}
	if spec.Replicas < 1 {
		spec.Replicas = 1
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start workload %s: %w", spec.ID, ErrShuttingDown)
	}
	if _, ok := s.workloads[spec.ID]; ok {
		return nil
	}
	w := &workload{spec: spec}
	for i := range spec.Replicas {
		addr, err := freeAddr()
		if err != nil {
			return fmt.Errorf("start workload %s: %w", spec.ID, err)
		}
		w.replicas = append(w.replicas, newReplica(s, spec, i, addr))
	}
	s.workloads[spec.ID] = w
	for _, r := range w.replicas {
		go r.run()
	}
	s.logger.Info("workload started", "workload", spec.ID, "replicas", spec.Replicas)
	return nil
}

// Stop ends the workload's processes (SIGTERM, then SIGKILL after the stop
// timeout or when ctx ends) and forgets it.
func (s *Supervisor) Stop(ctx context.Context, id string) error {
	if s.kube != nil {
		return s.kube.stop(ctx, id)
	}
	s.mu.Lock()
	w, ok := s.workloads[id]
	delete(s.workloads, id)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop %s: %w", id, runtime.ErrNotFound)
	}
	s.stopWorkload(ctx, w)
	s.logger.Info("workload stopped", "workload", id)
	return nil
}

func (s *Supervisor) stopWorkload(ctx context.Context, w *workload) {
	for _, r := range w.replicas {
		r.requestStop()
	}
	for _, r := range w.replicas {
		select {
		case <-r.done:
		case <-ctx.Done():
			// The caller cannot wait for a graceful end any longer.
			r.kill()
			<-r.done
		}
	}
}

// List returns the status of every workload, sorted by ID.
func (s *Supervisor) List(ctx context.Context) ([]runtime.Status, error) {
	if s.kube != nil {
		return s.kube.list()
	}
	s.mu.Lock()
	ws := make([]*workload, 0, len(s.workloads))
	for _, w := range s.workloads {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool { return ws[i].spec.ID < ws[j].spec.ID })

	out := make([]runtime.Status, 0, len(ws))
	for _, w := range ws {
		st := runtime.Status{ID: w.spec.ID, App: w.spec.App, Release: w.spec.Release}
		for _, r := range w.replicas {
			st.Replicas = append(st.Replicas, r.status())
		}
		out = append(out, st)
	}
	return out, nil
}

// Logs calls fn with the app's stored lines that match q and, with q.Follow,
// with new lines as they are written until ctx ends.
func (s *Supervisor) Logs(ctx context.Context, q runtime.LogQuery, fn func(runtime.LogLine) error) error {
	return s.logs.Query(ctx, q, fn)
}

// Close stops every workload in parallel and refuses new ones.
func (s *Supervisor) Close(ctx context.Context) error {
	if s.kube != nil {
		// The cluster keeps the apps running; the next node adopts them.
		s.kube.close()
		return s.logs.Close()
	}
	s.mu.Lock()
	s.closed = true
	ws := s.workloads
	s.workloads = make(map[string]*workload)
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { s.stopWorkload(ctx, w) })
	}
	wg.Wait()
	return s.logs.Close()
}

// freeAddr returns a loopback address with a port nobody listens on now. The
// port is kept by the replica across restarts so the router's address for it
// stays valid.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// baseEnv is the part of the node's environment an app inherits: enough to find
// programs and write temporary files, nothing that leaks the node's settings.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
		}
	}
	return env
}
