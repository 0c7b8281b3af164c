// Package hcloudsim is a stateful, in-memory simulator of the Hetzner Cloud API
// for tests and benchmarks. It speaks the real API's JSON shapes (the schema
// types of hcloud-go), status codes and error codes, so hcloud-go can be pointed
// at it with hcloud.WithEndpoint. It models actions whose progress advances
// over time, labels and label selectors, pagination, the project rate limit and
// injected faults, and lets a test turn each created server into a real host
// through OnServerCreate.
package hcloudsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configures a simulator. The zero value is usable: every token is
// accepted, actions take one second and the rate limit is the real 3600/h.
type Options struct {
	// Token is the only API token accepted; empty accepts any non-empty token.
	Token string
	// ActionDuration is how long a generic action runs before it succeeds
	// (default 1s). Its progress grows linearly over that time.
	ActionDuration time.Duration
	// ServerBootDuration is how long a create_server action runs, the time a
	// server stays "initializing" (default ActionDuration).
	ServerBootDuration time.Duration
	// RateLimit is the bucket size of the project's rate limit (default 3600).
	RateLimit int
	// RateRefill is the time it takes to refill one request (default 1s, which
	// with the default limit is the real 3600 requests per hour).
	RateRefill time.Duration
	// Latency, when set, returns the delay added before answering a call to
	// the route (for example "POST /servers").
	Latency func(route string) time.Duration
	// OnServerCreate, when set, is called for every created server with its
	// name, user data and the public keys of its SSH keys; it returns the
	// server's public IPv4 address. An error makes the create_server action
	// fail and leaves the server off. When the address lies in the IP range
	// of a network the server is created in, it is the server's private IP in
	// that network as well, so a test host on 198.19.0.0/16 with the
	// cluster's network set to that range is reached over its "private"
	// address too (the simulator accepts 198.18.0.0/15 networks for this).
	OnServerCreate func(name, userData string, sshKeys []string) (ip string, err error)
	// HostIPs makes a server's address in every network it is created in
	// the address OnServerCreate returned even when it lies outside the
	// network's range. It is for tests that drive prosper through its cluster
	// file, which only takes RFC 1918 ranges: the hosts are not on one, and
	// tests use none, so the range is only a string in the simulator.
	HostIPs bool
	// OnServerDelete, when set, is called after a server is deleted.
	OnServerDelete func(name, ip string)
}

// Fault makes the Nth call (counting from 1) of Route fail with the error
// Code. Status defaults to the status the real API uses for Code.
type Fault struct {
	Route  string
	Nth    int
	Code   string
	Status int
}

// Sim is a running simulator. Its zero value is not usable; create one with
// New or Start.
type Sim struct {
	// URL is the endpoint to give hcloud.WithEndpoint (set by Start).
	URL string

	opts   Options
	mux    *http.ServeMux
	server *http.Server

	connMu sync.Mutex
	fresh  map[net.Conn]bool

	mu     sync.Mutex
	state  *state
	limit  *rateLimiter
	calls  map[string]int
	faults []Fault
}

// New returns a simulator as an http.Handler, for callers that serve it
// themselves.
func New(opts Options) *Sim {
	if opts.ActionDuration <= 0 {
		opts.ActionDuration = time.Second
	}
	if opts.ServerBootDuration <= 0 {
		opts.ServerBootDuration = opts.ActionDuration
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 3600
	}
	if opts.RateRefill <= 0 {
		opts.RateRefill = time.Second
	}
	s := &Sim{
		opts:  opts,
		mux:   http.NewServeMux(),
		state: newState(),
		limit: newRateLimiter(opts.RateLimit, opts.RateRefill),
		calls: map[string]int{},
	}
	s.routes()
	return s
}

// Start serves a new simulator on a loopback port chosen by the kernel.
func Start(opts Options) (*Sim, error) {
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for hcloud simulator: %w", err)
	}
	s.URL = "http://" + ln.Addr().String() + "/v1"
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("hcloud simulator stopped serving", "err", err)
		}
	}()
	return s, nil
}

// Close stops a simulator started with Start and waits for its requests.
func (s *Sim) Close() error {
	if s.server == nil {
		return nil
	}
	// Shutdown waits up to 5s for a connection that a client dialled but
	// has not sent a request on yet (Go's transport dials spares); nobody
	// will send one now, so close those at once.
	s.connMu.Lock()
	for c := range s.fresh {
		_ = c.Close()
	}
	s.connMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.server.Shutdown(ctx)
}

// trackConn remembers connections that have not carried a request yet.
func (s *Sim) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.fresh == nil {
		s.fresh = map[net.Conn]bool{}
	}
	if state == http.StateNew {
		s.fresh[c] = true
	} else {
		delete(s.fresh, c)
	}
}

// InjectFault arms a fault; each fault fires once.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Calls returns how many calls each route received, keyed like
// "POST /servers" or "GET /actions", including rejected calls.
func (s *Sim) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// TotalCalls returns the number of calls over all routes.
func (s *Sim) TotalCalls() int {
	n := 0
	for _, v := range s.Calls() {
		n += v
	}
	return n
}

// ServeHTTP answers one API call; paths carry the real API's /v1 prefix.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}
