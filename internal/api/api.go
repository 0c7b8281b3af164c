// Package api holds the JSON shapes the control plane's HTTP API speaks, shared by
// the server and the CLI's client so that both sides agree by construction.
package api

import (
	"time"

	"github.com/prosperhq/prosper/internal/runtime"
	"github.com/prosperhq/prosper/internal/store"
)

// Error is the body of every failed API call.
type Error struct {
	Error string `json:"error"`
	// Hint says what to do about it, when the server knows.
	Hint string `json:"hint,omitempty"`
}

// CreateAppRequest is the body of POST /api/apps.
type CreateAppRequest struct {
	Name string `json:"name"`
	Team string `json:"team,omitempty"`
}

// AppView is an app as listings show it.
type AppView struct {
	store.App
	GitURL      string `json:"git_url"`
	URL         string `json:"url"`
	LiveRelease int    `json:"live_release,omitempty"`
	// State is one word: "new" (never deployed), "running", "crash-looping", "stopped".
	State string `json:"state"`
}

// StatusView is the answer of GET /api/apps/{app}/status.
type StatusView struct {
	App       AppView          `json:"app"`
	Live      *store.Release   `json:"live,omitempty"`
	Deploying *store.Release   `json:"deploying,omitempty"`
	Workloads []runtime.Status `json:"workloads"`
	// Problem explains, in words, why the live release is not serving well (a crash
	// loop with its exit code and last stderr lines); empty when all is well.
	Problem string `json:"problem,omitempty"`
}

// ConfigRequest is the body of PATCH /api/apps/{app}/config.
type ConfigRequest struct {
	Set   map[string]string `json:"set,omitempty"`
	Unset []string          `json:"unset,omitempty"`
}

// RollbackRequest is the body of POST /api/apps/{app}/rollback; Version 0 means the
// release that was live before the current one.
type RollbackRequest struct {
	Version int `json:"version,omitempty"`
}

// Message is one line of a streamed operation (deploy, rollback, config change),
// sent as newline-delimited JSON. Exactly one of the fields is set; the stream ends
// with a Result or an Error.
type Message struct {
	Line   string  `json:"line,omitempty"`
	Result *Result `json:"result,omitempty"`
	Error  *Error  `json:"error,omitempty"`
}

// Result is how a streamed operation ended well.
type Result struct {
	Release store.Release `json:"release"`
	URL     string        `json:"url"`
	// Instant is true for a rollback served by a release that was still warm.
	Instant bool `json:"instant,omitempty"`
}

// Info is the answer of GET /api/info.
type Info struct {
	Version   string    `json:"version"`
	RouterURL string    `json:"router_url"`
	StartedAt time.Time `json:"started_at"`
}
