// Package bots runs synthetic customers: journeys of HTTP requests, written as
// scenario files in an app's repository, that prosper sends continuously to the live
// release and, during verification, mirrors to the candidate.
//
// Parse and Load read scenario files strictly, with file:line:col errors. RunOnce
// runs one journey and records what happened; Check applies a step's expectations
// to an answer obtained elsewhere; Runner keeps every scenario going at its pace.
package bots

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DefaultGlob is where an app's scenario files are when prosper.yaml does not say.
const DefaultGlob = "bots/*.yaml"

// Pace and timeout limits. MinEvery keeps a typo such as "every: 1ms" from turning a
// bot into a load test against production.
const (
	DefaultEvery   = 10 * time.Second
	MinEvery       = 100 * time.Millisecond
	MaxEvery       = 24 * time.Hour
	DefaultTimeout = 10 * time.Second
	MaxTimeout     = 5 * time.Minute
)

// Scenario is one parsed bot file.
type Scenario struct {
	Name    string        // from "name:", else the file name without extension
	File    string        // the file as given to Parse, for messages
	Every   time.Duration // one run starts every Every
	Timeout time.Duration // the most one step may take
	Cost    Cost          // what a failed run would have cost in production
	Steps   []Step

	nameLine int // where the name is set, for duplicate names across files
}

// Cost is an amount of money in a currency with a 3-letter code. The zero value
// means no cost was given.
type Cost struct {
	Amount   float64
	Currency string
}

// IsZero reports whether no cost was given.
func (c Cost) IsZero() bool { return c == Cost{} }

// String returns the cost as written in a scenario file, "40 EUR", or "" for none.
func (c Cost) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatFloat(c.Amount, 'f', -1, 64) + " " + c.Currency
}

// Step is one request of a journey and what its answer must look like.
type Step struct {
	Name   string            // "read it back", or "METHOD path" when not named
	Method string            // GET, POST, PUT, PATCH, DELETE or HEAD
	Path   string            // template of the path with query, starting with "/"
	Header map[string]string // templates of header values, by canonical name
	Body   []byte            // template of the body; nil for none
	JSON   bool              // Body is JSON: it is sent as application/json
	Expect Expect
	Save   map[string]string // variable name -> JSONPath into the response
	Line   int               // where the step starts in its file
}

// Expect is what a step's answer must satisfy. The zero value accepts any status
// below 400.
type Expect struct {
	Status []int // accepted statuses; empty means any below StatusBelow
	// StatusBelow bounds the status when Status is empty; 0 means 400. Scenario
	// files cannot set it: it lets Smoke accept client errors from an app that
	// has no page at "/".
	StatusBelow  int
	JSON         map[string]any // JSONPath -> expected JSON value; "*" means present
	BodyContains string
	MaxLatency   time.Duration // 0 means no limit but the step's timeout
}

// Smoke returns the journey run for an app that has no bot files: its health path,
// when it has one, then "/", each expected to answer below 500.
func Smoke(healthPath string) Scenario {
	s := Scenario{Name: "smoke", Every: time.Second, Timeout: DefaultTimeout}
	paths := []string{"/"}
	if healthPath != "" && healthPath != "/" {
		paths = []string{healthPath, "/"}
	}
	for _, p := range paths {
		s.Steps = append(s.Steps, Step{
			Name:   "GET " + p,
			Method: "GET",
			Path:   p,
			Expect: Expect{StatusBelow: 500},
		})
	}
	return s
}

// Load parses the scenario files matching glob, relative to dir ("bots/*.yaml" when
// glob is empty). No matching file gives no scenarios and no error. Every problem in
// every file is reported, joined; File in scenarios and errors is relative to dir.
func Load(dir, glob string) ([]Scenario, error) {
	pattern := glob
	if pattern == "" {
		pattern = DefaultGlob
	}
	matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
	if err != nil {
		return nil, fmt.Errorf("bots glob %q: %w", pattern, err)
	}
	if len(matches) == 0 && glob == "" {
		// A bots/*.yml file would otherwise be ignored without a word.
		if yml, _ := filepath.Glob(filepath.Join(dir, "bots", "*.yml")); len(yml) > 0 {
			rel, _ := filepath.Rel(dir, yml[0])
			return nil, &Error{File: filepath.ToSlash(rel), Msg: "bot files are read from bots/*.yaml; rename the file to end in .yaml"}
		}
	}
	var (
		scenarios []Scenario
		errs      []error
		byName    = map[string]Scenario{}
	)
	for _, m := range matches {
		rel, err := filepath.Rel(dir, m)
		if err != nil {
			rel = m
		}
		rel = filepath.ToSlash(rel)
		if info, err := os.Stat(m); err == nil && info.IsDir() {
			continue
		}
		data, err := os.ReadFile(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("read bot file %s: %w", rel, err))
			continue
		}
		s, err := Parse(rel, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, ok := byName[s.Name]; ok {
			// The name identifies a bot's runs and its requests (Prosper-Bot), so
			// two bots with one name would read as one.
			errs = append(errs, &Error{File: rel, Line: s.nameLine, Msg: fmt.Sprintf(
				"bot name %q is already used by %s; give each bot its own name", s.Name, first.File)})
			continue
		}
		byName[s.Name] = s
		scenarios = append(scenarios, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return scenarios, nil
}
