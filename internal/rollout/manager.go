// Package rollout is the release state machine: a source becomes a built release,
// the release is started and health-checked beside the live one, the router is
// switched to it, and the one it replaced is kept warm for an instant rollback.
//
// The next issue adds the mirror phase (verify → promote / reject) between "healthy"
// and "switch"; everything here is written so that phase slots in before promote.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/router"
	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
	"github.com/prosperhq/prosper/internal/verify"
)

// ErrBusy is returned when an operation would wait on a deploy of the same app and
// the caller's context ends first.
var ErrBusy = errors.New("another deploy of this app is in progress")

// RouteSetter is the part of the data plane the rollout drives.
type RouteSetter interface {
	SetRoutes(ctx context.Context, t router.Table) error
	InFlight(ctx context.Context, app string, release int) (int64, error)
}

// Builder turns a source tree into a runnable release.
type Builder interface {
	Build(ctx context.Context, req build.Request) (build.Result, error)
}

// Manager runs deploys, rollbacks and config changes, one at a time per app.
type Manager struct {
	store   *store.Store
	runtime runtime.Runtime
	routes  RouteSetter
	builder Builder
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex
	locks    map[string]chan struct{} // one token per app; holding it means deploying
	sessions map[string]*session      // verifications in progress, by app
	watchers map[string]*watcher      // live bots and grace watches, by app
	// botPauses counts, by app, the verifications that hold its live bots.
	botPauses map[string]int
	bg        context.Context // the context Run was given, for background work
	// routesMu serializes route table pushes so that an older table never
	// overwrites a newer one, and guards mirrors.
	routesMu sync.Mutex
	mirrors  map[string]*router.MirrorPolicy // by app, while its candidate is verified
	splits   map[string]*split               // by app, while it is promoted in steps
	mirror   MirrorSource                    // nil when the data plane cannot mirror
}

// Options tune a Manager.
type Options struct {
	// DataDir holds releases/, appdata/ and build logs.
	DataDir string
	// Warm is how long a replaced release keeps running so that a rollback to it is
	// instant; zero stops it as soon as it is drained.
	Warm time.Duration
	// HealthTimeout bounds how long a new release may take to become healthy when
	// its prosper.yaml does not say.
	HealthTimeout time.Duration
	// Domain is the suffix of every app's default host: NAME.Domain.
	Domain string
	// RouterURL is the data plane's base address, used to print app URLs.
	RouterURL string
	// KeepReleases is how many of an app's newest releases keep their files
	// (source tree and build) for rollback; default 10.
	KeepReleases int
	// VerifyWindow is the verification window of apps whose prosper.yaml sets
	// none; default verify.DefaultWindow.
	VerifyWindow time.Duration
	// Grace is how long a promoted release is watched when its prosper.yaml
	// sets no verify.grace; default verify.DefaultGrace.
	Grace time.Duration
}

// New returns a Manager. Call Run to start its background sweeps.
func New(st *store.Store, rt runtime.Runtime, rs RouteSetter, b Builder, opts Options, log *slog.Logger) *Manager {
	if opts.KeepReleases <= 0 {
		opts.KeepReleases = 10
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 60 * time.Second
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.VerifyWindow <= 0 {
		opts.VerifyWindow = verify.DefaultWindow
	}
	if opts.Grace <= 0 {
		opts.Grace = verify.DefaultGrace
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Manager{store: st, runtime: rt, routes: rs, builder: b, opts: opts, log: log,
		locks: map[string]chan struct{}{}, sessions: map[string]*session{}, watchers: map[string]*watcher{}, botPauses: map[string]int{}, mirrors: map[string]*router.MirrorPolicy{}, splits: map[string]*split{}}
	// The data plane delivers mirrored exchanges when it can (the node does).
	if ms, ok := rs.(MirrorSource); ok {
		m.mirror = ms
	}
	return m
}

// token returns the app's deploy token: a channel of one slot, full while a
// deploy, rollback or sweep holds the app.
func (m *Manager) token(app string) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.locks[app]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[app] = ch
	}
	return ch
}

// lock waits for the app's deploy token. It returns ErrBusy if ctx ends first.
func (m *Manager) lock(ctx context.Context, app string) (unlock func(), err error) {
	ch := m.token(app)
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

// tryLock takes the app's deploy token if it is free.
func (m *Manager) tryLock(app string) (unlock func(), ok bool) {
	ch := m.token(app)
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true
	default:
		return nil, false
	}
}

// Deploying reports whether a deploy of the app holds its lock right now.
func (m *Manager) Deploying(app string) bool {
	return len(m.token(app)) > 0
}

// URL is where the router serves the app.
func (m *Manager) URL(app string) string {
	host := app + "." + m.opts.Domain
	if m.opts.RouterURL == "" {
		return "http://" + host
	}
	return replaceHost(m.opts.RouterURL, host)
}

// Hosts are the names the router answers for the app.
func (m *Manager) Hosts(a store.App) []string {
	return append([]string{a.Name + "." + m.opts.Domain}, a.Domains...)
}

func (m *Manager) releaseDir(app string, version int) string {
	return filepath.Join(m.opts.DataDir, "releases", app, fmt.Sprintf("v%d", version))
}

func (m *Manager) appDataDir(app string) string {
	return filepath.Join(m.opts.DataDir, "appdata", app)
}

// WorkloadID names the runtime workload of a release.
func WorkloadID(app string, version int) string { return runtime.WorkloadID(app, version) }

func (m *Manager) event(ctx context.Context, typ, app string, release int, data any) {
	if _, err := m.store.AppendEvent(ctx, newEvent(typ, app, release, data)); err != nil {
		m.log.Error("append event", "type", typ, "app", app, "err", err)
	}
}
