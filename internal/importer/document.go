// Package importer brings a team's history into prosper on its first day: the
// commits and past deployments of a git repository (its tags), and the
// deployments and incidents that other tools recorded, in one documented JSON
// format. Everything imported becomes ordinary commits, events and incidents, so
// the delivery readings count it like what prosper saw itself. Importing the same
// history twice adds nothing the second time.
package importer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Document is the JSON format of an import (POST /api/import, prosper import
// events --file F). Every list is optional.
type Document struct {
	Commits     []Commit     `json:"commits,omitempty"`
	Deployments []Deployment `json:"deployments,omitempty"`
	Incidents   []Incident   `json:"incidents,omitempty"`
}

// Commit is a past commit of an app.
type Commit struct {
	App        string    `json:"app"`
	SHA        string    `json:"sha"`
	Parents    []string  `json:"parents,omitempty"`
	Branch     string    `json:"branch,omitempty"`
	Author     string    `json:"author,omitempty"` // "Name <email>"
	AuthorTime time.Time `json:"author_time,omitzero"`
	CommitTime time.Time `json:"commit_time"`
	Message    string    `json:"message,omitempty"`
}

// Deployment statuses.
const (
	// StatusSuccess is a deployment that went live and stayed.
	StatusSuccess = "success"
	// StatusFailure is a deployment that went live and broke production: it is
	// counted as a deployment and marked failed through an incident.
	StatusFailure = "failure"
)

// Deployment is a past deployment of a commit of an app to production.
type Deployment struct {
	App    string    `json:"app"`
	Commit string    `json:"commit"`
	Time   time.Time `json:"time"`
	Tag    string    `json:"tag,omitempty"`
	Status string    `json:"status,omitempty"` // StatusSuccess (the default) or StatusFailure
}

// Incident is a past incident of an app. Commit or Tag, when given, names the
// deployment that caused it: one in the same document or imported before.
type Incident struct {
	App        string     `json:"app"`
	Title      string     `json:"title"`
	OpenedAt   time.Time  `json:"opened_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Commit     string     `json:"commit,omitempty"`
	Tag        string     `json:"tag,omitempty"`
	Details    string     `json:"details,omitempty"`
}

// ErrInvalid marks a document that cannot be imported; nothing of it was.
var ErrInvalid = errors.New("invalid import")

// FieldError is what is wrong with one field of one item of a document.
type FieldError struct {
	List  string // "commits", "deployments" or "incidents"
	Index int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s[%d].%s: %s", e.List, e.Index, e.Field, e.Msg)
}

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Problems are the FieldErrors of one document, told on one line.
type Problems []*FieldError

func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap makes Problems an ErrInvalid.
func (p Problems) Unwrap() error { return ErrInvalid }

// Validate checks the document on its own, item by item, and returns the first
// problems (at most 10), each naming the item's index and field. Whether the apps
// exist and the incidents' deployments are known is checked by Apply.
func (d Document) Validate() error {
	var errs Problems
	add := func(list string, i int, field, msg string) {
		if len(errs) < 10 {
			errs = append(errs, &FieldError{List: list, Index: i, Field: field, Msg: msg})
		}
	}
	if len(d.Commits)+len(d.Deployments)+len(d.Incidents) == 0 {
		return fmt.Errorf("the document has no commits, deployments or incidents: %w", ErrInvalid)
	}
	for i, c := range d.Commits {
		if c.App == "" {
			add("commits", i, "app", "missing")
		}
		if !isSHA(c.SHA) {
			add("commits", i, "sha", fmt.Sprintf("%q is not a commit sha (4 to 64 hex digits)", c.SHA))
		}
		for j, p := range c.Parents {
			if !isSHA(p) {
				add("commits", i, fmt.Sprintf("parents[%d]", j), fmt.Sprintf("%q is not a commit sha", p))
			}
		}
		if c.CommitTime.IsZero() {
			add("commits", i, "commit_time", "missing (an RFC 3339 time such as 2026-01-31T14:05:00Z)")
		}
	}
	for i, dep := range d.Deployments {
		if dep.App == "" {
			add("deployments", i, "app", "missing")
		}
		if !isSHA(dep.Commit) {
			add("deployments", i, "commit", fmt.Sprintf("%q is not a commit sha (4 to 64 hex digits)", dep.Commit))
		}
		if dep.Time.IsZero() {
			add("deployments", i, "time", "missing (an RFC 3339 time such as 2026-01-31T14:05:00Z)")
		}
		if dep.Status != "" && dep.Status != StatusSuccess && dep.Status != StatusFailure {
			add("deployments", i, "status", fmt.Sprintf("%q: want %q or %q", dep.Status, StatusSuccess, StatusFailure))
		}
	}
	for i, in := range d.Incidents {
		if in.App == "" {
			add("incidents", i, "app", "missing")
		}
		if strings.TrimSpace(in.Title) == "" {
			add("incidents", i, "title", "missing")
		}
		if in.OpenedAt.IsZero() {
			add("incidents", i, "opened_at", "missing (an RFC 3339 time such as 2026-01-31T14:05:00Z)")
		}
		if in.ResolvedAt != nil && in.ResolvedAt.Before(in.OpenedAt) {
			add("incidents", i, "resolved_at", "before opened_at")
		}
		if in.Commit != "" && !isSHA(in.Commit) {
			add("incidents", i, "commit", fmt.Sprintf("%q is not a commit sha", in.Commit))
		}
		if in.Commit != "" && in.Tag != "" {
			add("incidents", i, "tag", "give commit or tag, not both")
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// isSHA reports whether s looks like a full or abbreviated commit id.
func isSHA(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
