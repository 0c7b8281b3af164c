// Package appconfig reads prosper.yaml, the optional file in an app's repository that
// tells prosper how to build, run, check and verify the app.
//
// Every setting is optional; Default holds what applies when one is left out. Parse
// is strict: an unknown key, a value of the wrong kind or out of range is an *Error
// that names the file, line and column and, when it can, says what to write instead.
package appconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// FileName is the name of the configuration file at the root of an app's repository.
const FileName = "prosper.yaml"

// MaxReplicas bounds replicas: one machine runs every replica of the embedded platform.
const MaxReplicas = 16

// Config is the content of prosper.yaml after defaults have been applied.
type Config struct {
	// Team owns the app; DORA readings are grouped by it.
	Team string `yaml:"team" json:"team,omitempty"`
	// Build is a shell command that builds the app; empty means detect it.
	Build string `yaml:"build" json:"build,omitempty"`
	// Run is a shell command that starts one replica listening on $PORT; empty
	// means the Procfile's web: line or the detected Go binary.
	Run string `yaml:"run" json:"run,omitempty"`
	// Image is the base image the app is built in and runs on when prosper runs
	// the apps on Kubernetes, such as docker.io/library/node:22-bookworm-slim;
	// empty means the default base of the app's kind. An app with a build:
	// command and no Go module needs one there.
	Image string `yaml:"image" json:"image,omitempty"`
	// Health is the HTTP path probed for readiness; empty means "the port accepts
	// TCP connections". It always starts with "/".
	Health string `yaml:"health" json:"health,omitempty"`
	// HealthTimeout is how long a new release may take to become healthy.
	HealthTimeout Duration `yaml:"health_timeout" json:"health_timeout"`
	// Replicas is the number of processes of the release, from 1 to MaxReplicas.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Domains are host names routed to the app besides NAME.localhost, in lower
	// case. nil means prosper.yaml does not mention them; an empty list, that it
	// clears them.
	Domains []string `yaml:"domains" json:"domains,omitempty"`
	// Database is "" (none managed by prosper) or "sqlite": a candidate release
	// then gets its own copy of the live data.
	Database string `yaml:"database" json:"database,omitempty"`
	// Verify says how a candidate release is compared with the live one.
	Verify Verify `yaml:"verify" json:"verify"`
	// Bots is a glob, relative to the repository root, of bot scenario files.
	Bots string `yaml:"bots" json:"bots,omitempty"`
}

// Verify configures the comparison of a candidate release with the live one. Zero
// values of Window and MinRequests mean "not set": the rollout chooses then.
type Verify struct {
	// Mirror is the share of live requests copied to the candidate; default 100%.
	Mirror Percent `yaml:"mirror" json:"mirror"`
	// Window is how long the candidate is observed before a verdict.
	Window Duration `yaml:"window" json:"window,omitempty"`
	// MinRequests is how many compared requests a verdict needs at least.
	MinRequests int `yaml:"min_requests" json:"min_requests,omitempty"`
	// Grace is how long a promoted release is watched, the one it replaced kept
	// warm, before it is trusted; zero means the rollout's default.
	Grace Duration `yaml:"grace" json:"grace,omitempty"`
	// Steps are optional traffic shares the promoted release is given in turn
	// ([10%, 50%]), each held for one window, before it takes all of it.
	Steps []Percent `yaml:"steps" json:"steps,omitempty"`
	// Ignore lists JSON paths ("$.now") of response fields never compared.
	Ignore []string `yaml:"ignore" json:"ignore,omitempty"`
	// Gates maps a gate name (see GateNames) to its threshold as written, e.g.
	// "error_rate": "+1%", "p99": "x1.3". Parse has checked the threshold's form.
	Gates map[string]string `yaml:"gates" json:"gates,omitempty"`
}

// Database kinds.
const (
	DatabaseNone   = ""
	DatabaseSQLite = "sqlite"
)

// Default returns the configuration of an app without prosper.yaml.
func Default() Config {
	return Config{
		HealthTimeout: Duration(60 * time.Second),
		Replicas:      1,
		Verify:        Verify{Mirror: 100},
	}
}

// Parse reads the content of a prosper.yaml file. filename is used in error messages
// only. An empty file yields Default(). Every error is an *Error.
func Parse(filename string, data []byte) (Config, error) {
	cfg := Default()
	if err := decode(filename, data, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Load reads dir/prosper.yaml. A missing file is not an error: the app simply uses
// Default(). Errors in the file are *Error values naming "prosper.yaml".
func Load(dir string) (Config, error) {
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		// A prosper.yml would otherwise be ignored without a word, which is worse
		// than refusing it.
		if _, statErr := os.Stat(filepath.Join(dir, "prosper.yml")); statErr == nil {
			return Config{}, &Error{File: "prosper.yml", Msg: "prosper reads prosper.yaml, not prosper.yml; rename the file"}
		}
		return Default(), nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("read %s: %w", FileName, err)
	}
	return Parse(FileName, data)
}
