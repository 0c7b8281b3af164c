package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/appconfig"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// spec is how the runtime runs a release.
func (m *Manager) spec(rel store.Release) (runtime.Spec, error) {
	env := map[string]string{}
	buildEnv, err := readBuildEnv(rel.Artifact)
	if err != nil {
		return runtime.Spec{}, fmt.Errorf("read build env: %w", err)
	}
	maps.Copy(env, buildEnv)
	maps.Copy(env, rel.Env)
	// Every release of an app shares one data directory, so the data outlives
	// releases; in mirror production candidates get a copy (verifyCandidate).
	dataDir := m.appDataDir(rel.App)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return runtime.Spec{}, fmt.Errorf("create app data dir: %w", err)
	}
	if _, ok := env["DATA_DIR"]; !ok {
		env["DATA_DIR"] = dataDir
	}
	env["PROSPER_APP"] = rel.App
	env["PROSPER_RELEASE"] = "v" + strconv.Itoa(rel.Version)
	return runtime.Spec{
		ID: WorkloadID(rel.App, rel.Version), App: rel.App, Release: rel.Version,
		Artifact: rel.Artifact, Command: rel.Command, Env: env,
		Replicas: replicas(rel), HealthPath: rel.HealthPath,
	}, nil
}

// replicas is how many processes the release runs. The store keeps the count a
// release was created with, which for a deploy is before its prosper.yaml was
// read (store.UpdateRelease leaves it as it was), so the artifact's prosper.yaml
// is asked too: without it a release restarted by Recover, a cold rollback or a
// config change would run one replica whatever prosper.yaml says.
func replicas(rel store.Release) int {
	n := max(rel.Replicas, 1)
	if cfg, err := appconfig.Load(rel.Artifact); err == nil {
		n = max(n, cfg.Replicas)
	}
	return n
}

// crashLimit is how many restarts a new release may have before it is declared
// broken without waiting for the whole health timeout.
const crashLimit = 3

// startAndWait starts the release and waits until every replica is healthy. It
// records the start and health phases.
func (m *Manager) startAndWait(ctx context.Context, rel *store.Release, timeout time.Duration, out io.Writer) error {
	spec, err := m.spec(*rel)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := m.runtime.Start(ctx, spec); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if rel.Phases == nil {
		rel.Phases = map[string]float64{}
	}
	rel.Phases["start"] = seconds(time.Since(started))
	say(out, "-----> started v%d (%s); waiting for %s", rel.Version, spec.Command, healthWords(spec.HealthPath))

	started = time.Now()
	if _, err := m.waitReady(ctx, spec, rel.Version, timeout); err != nil {
		return err
	}
	rel.Phases["health"] = seconds(time.Since(started))
	return nil
}

func healthWords(path string) string {
	if path == "" {
		return "the port to accept connections"
	}
	return "GET " + path + " to answer 2xx"
}

func restarts(st runtime.Status) int {
	n := 0
	for _, r := range st.Replicas {
		n = max(n, r.Restarts)
	}
	return n
}

// exited reports whether a process of the workload has ended at least once.
func exited(st runtime.Status) bool {
	for _, r := range st.Replicas {
		if r.LastExit != "" {
			return true
		}
	}
	return false
}

// CrashWords says plainly how a workload's processes end: exit code or signal and
// the last lines they wrote to stderr.
func CrashWords(st runtime.Status) string {
	for _, r := range st.Replicas {
		if r.LastExit == "" {
			continue
		}
		if strings.HasPrefix(r.LastExit, "could not start") {
			return "its container " + r.LastExit // on Kubernetes: an image pull or config error
		}
		times := fmt.Sprintf("%d times", r.Restarts)
		if r.Restarts == 1 {
			times = "once"
		}
		s := fmt.Sprintf("the process ended with %s (restarted %s)", r.LastExit, times)
		if len(r.StderrTail) > 0 {
			tail := r.StderrTail
			if len(tail) > 5 {
				tail = tail[len(tail)-5:]
			}
			s += "; last stderr: " + strings.Join(tail, " | ")
		}
		return s
	}
	return "no process has exited"
}

// workload returns the runtime's status of one workload.
func (m *Manager) workload(ctx context.Context, id string) (runtime.Status, error) {
	all, err := m.runtime.List(ctx)
	if err != nil {
		return runtime.Status{}, err
	}
	for _, st := range all {
		if st.ID == id {
			return st, nil
		}
	}
	return runtime.Status{}, runtime.ErrNotFound
}

// switchTo points the router at the app's release version and then records it as
// live, the one it replaces getting status previous. The router moves first: if the
// control plane dies between the two steps, recovery re-reads the store and points
// the router back at the release the store says is live, which is still warm.
func (m *Manager) switchTo(ctx context.Context, app string, version int, previous string) (store.Release, error) {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if err := m.pushRoutes(ctx, map[string]int{app: version}); err != nil {
		return store.Release{}, fmt.Errorf("switch router: %w", err)
	}
	prev, ok, err := m.store.Promote(ctx, app, version, previous)
	if err != nil {
		// The router serves version already: point it back at the release the
		// store says is live, which still runs, before the caller stops version.
		if rerr := m.pushRoutes(context.WithoutCancel(ctx), nil); rerr != nil {
			m.log.Error("restore routes after a failed promotion", "app", app, "release", version, "err", rerr)
		}
		return store.Release{}, err
	}
	if ok {
		prev.FinishedAt = ptr(now())
		if err := m.store.UpdateRelease(ctx, prev); err != nil {
			return prev, err
		}
	}
	return prev, nil
}

// SyncRoutes pushes the route table the store describes to the router.
func (m *Manager) SyncRoutes(ctx context.Context) error {
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	return m.pushRoutes(ctx, nil)
}

// pushRoutes builds the whole table from the store, with the live release of some
// apps overridden, and sends it. Callers hold routesMu.
func (m *Manager) pushRoutes(ctx context.Context, override map[string]int) error {
	apps, err := m.store.ListApps(ctx)
	if err != nil {
		return err
	}
	all, err := m.runtime.List(ctx)
	if err != nil {
		return err
	}
	byID := map[string]runtime.Status{}
	for _, st := range all {
		byID[st.ID] = st
	}
	var t router.Table
	for _, a := range apps {
		route := router.Route{App: a.Name, Hosts: m.Hosts(a)}
		version, ok := override[a.Name]
		if !ok {
			live, err := m.store.LiveRelease(ctx, a.Name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			version = live.Version
		}
		if sp := m.splits[a.Name]; sp != nil && sp.from == version {
			from, to := byID[WorkloadID(a.Name, sp.from)], byID[WorkloadID(a.Name, sp.to)]
			route.Backends = splitBackends(sp, addrs(from), addrs(to))
		}
		if st, ok := byID[WorkloadID(a.Name, version)]; ok && version > 0 && route.Backends == nil {
			route.Backends = []router.Backend{{Release: version, Addrs: addrs(st), Weight: 100}}
			if p := m.mirrors[a.Name]; p != nil {
				mp := *p
				route.Mirror = &mp
			}
		}
		t.Routes = append(t.Routes, route)
	}
	return m.routes.SetRoutes(ctx, t)
}

// addrs are the addresses of every replica. Health is not consulted: the table
// changes only at a switch, and a replica that fails a probe for a moment must not
// be left out until the next deploy; the router retries a refused connection on
// another replica instead.
func addrs(st runtime.Status) []string {
	var out []string
	for _, r := range st.Replicas {
		if r.Addr != "" { // a pod not yet given an address
			out = append(out, r.Addr)
		}
	}
	return out
}
