package importer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// Event types an import appends; the delivery readings read them like those of
// prosper's own releases.
const (
	EventPromoted         = "release.promoted"
	EventIncidentOpened   = "incident.opened"
	EventIncidentResolved = "incident.resolved"
)

// Summary is what an import added.
type Summary struct {
	Commits     int `json:"commits"`     // commits sent; those known already are kept as they were
	Deployments int `json:"deployments"` // deployments added
	Incidents   int `json:"incidents"`   // incidents added, failed deployments' included
	Resolved    int `json:"resolved"`    // incidents imported open before and resolved now
	Skipped     int `json:"skipped"`     // deployments and incidents imported before
}

// Apply imports a document into the store: commits as pushed commits,
// deployments as release.promoted events at their time (release 0, data
// {"commit", "source": "import", "tag", "status", "import_key"}), incidents as
// incidents of cause import with their incident.opened and incident.resolved
// events. A deployment with status failure is counted as a deployment and marked
// failed by an incident opened at its time and resolved by the app's next
// deployment (left open when there is none yet), unless the document has an
// incident that names that deployment.
//
// The whole document is checked before anything is written, so an invalid one
// imports nothing. Each deployment and incident carries an import key in its
// event's data; what was imported before is skipped, so importing the same
// history twice adds nothing, and a retry after a failed write completes it.
func Apply(ctx context.Context, st *store.Store, doc Document) (Summary, error) {
	if err := doc.Validate(); err != nil {
		return Summary{}, err
	}
	p, err := plan(ctx, st, doc)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Commits: len(doc.Commits), Skipped: p.skipped}
	if len(doc.Commits) > 0 {
		commits := make([]store.Commit, len(doc.Commits))
		for i, c := range doc.Commits {
			commits[i] = store.Commit{App: c.App, SHA: strings.ToLower(c.SHA), Branch: c.Branch, Author: c.Author,
				AuthorTime: c.AuthorTime, CommitTime: c.CommitTime, Message: c.Message,
				// It was pushed by then at the latest; a later time would
				// make its lead time look shorter than it was.
				PushedAt: c.CommitTime}
			for _, par := range c.Parents {
				commits[i].Parents = append(commits[i].Parents, strings.ToLower(par))
			}
		}
		if err := st.RecordCommits(ctx, commits); err != nil {
			return sum, fmt.Errorf("import commits: %w", err)
		}
	}
	for _, d := range p.deployments {
		data := map[string]any{"commit": d.Commit, "source": "import", "status": d.Status, "import_key": d.key}
		if d.Tag != "" {
			data["tag"] = d.Tag
		}
		if err := appendEvent(ctx, st, store.Event{Type: EventPromoted, App: d.App, Time: d.Time}, data); err != nil {
			return sum, fmt.Errorf("import deployment of %s: %w", d.Commit, err)
		}
		sum.Deployments++
	}
	for _, in := range p.incidents {
		if in.existing != 0 {
			if err := resolve(ctx, st, in.App, in.existing, *in.ResolvedAt); err != nil {
				return sum, err
			}
			sum.Resolved++
			continue
		}
		if err := openIncident(ctx, st, in); err != nil {
			return sum, err
		}
		sum.Incidents++
	}
	return sum, nil
}

// deployment is a deployment of the document or one imported before.
type deployment struct {
	Deployment
	key string
}

// incident is an incident to record, or an open one imported before to resolve.
type incident struct {
	Incident
	key      string
	cause    *deployment // the deployment that caused it, if known
	existing int64       // the ID of the incident imported before, to resolve
}

// importPlan is what Apply writes once the whole document is known to be good.
type importPlan struct {
	deployments []deployment // new ones, by time
	incidents   []incident
	skipped     int
}

func plan(ctx context.Context, st *store.Store, doc Document) (importPlan, error) {
	var p importPlan
	var problems Problems
	known := map[string]*appHistory{}
	checkApp := func(list string, i int, app string) *appHistory {
		if h, ok := known[app]; ok {
			return h
		}
		h, err := loadHistory(ctx, st, app)
		if errors.Is(err, store.ErrNotFound) {
			problems = append(problems, &FieldError{List: list, Index: i, Field: "app",
				Msg: fmt.Sprintf("unknown app %q: create it first with: prosper app create %s", app, app)})
			h = nil
		} else if err != nil {
			problems = append(problems, &FieldError{List: list, Index: i, Field: "app", Msg: err.Error()})
			h = nil
		}
		known[app] = h
		return h
	}
	for i, c := range doc.Commits {
		checkApp("commits", i, c.App)
	}
	for i, d := range doc.Deployments {
		h := checkApp("deployments", i, d.App)
		if h == nil {
			continue
		}
		d.Commit = strings.ToLower(d.Commit)
		d.Time = d.Time.UTC()
		if d.Status == "" {
			d.Status = StatusSuccess
		}
		dep := deployment{Deployment: d, key: "deployment:" + d.Commit + "@" + d.Time.Format(time.RFC3339Nano)}
		if _, ok := h.keys[dep.key]; ok {
			p.skipped++
			continue
		}
		h.keys[dep.key] = 0
		h.deployments = append(h.deployments, dep)
		p.deployments = append(p.deployments, dep)
	}
	slices.SortStableFunc(p.deployments, func(a, b deployment) int { return a.Time.Compare(b.Time) })
	for _, h := range known {
		if h != nil {
			slices.SortStableFunc(h.deployments, func(a, b deployment) int { return a.Time.Compare(b.Time) })
		}
	}

	caused := map[string]bool{} // deployments an incident of the document names
	var incidents []incident
	for i, in := range doc.Incidents {
		h := checkApp("incidents", i, in.App)
		if h == nil {
			continue
		}
		in.Title = strings.TrimSpace(in.Title)
		in.OpenedAt = in.OpenedAt.UTC()
		inc := incident{Incident: in, key: "incident:" + in.OpenedAt.Format(time.RFC3339Nano) + ":" + in.Title}
		if in.Commit != "" || in.Tag != "" {
			d, field, msg := h.find(in)
			if d == nil {
				problems = append(problems, &FieldError{List: "incidents", Index: i, Field: field, Msg: msg})
				continue
			}
			inc.cause = d
			caused[d.key] = true
		}
		incidents = append(incidents, inc)
	}
	if len(problems) > 0 {
		return p, problems
	}
	for _, d := range p.deployments {
		if d.Status != StatusFailure || caused[d.key] {
			continue
		}
		h := known[d.App]
		name := d.Tag
		if name == "" {
			name = short(d.Commit)
		}
		inc := incident{Incident: Incident{App: d.App, Title: "deployment of " + name + " failed", OpenedAt: d.Time,
			Details: "imported as a failed deployment"}, key: "failure:" + d.key, cause: &d}
		if next := h.after(d.Time); next != nil {
			inc.ResolvedAt = &next.Time
		}
		incidents = append(incidents, inc)
	}
	// The failure marks of deployments imported before may be resolved now by
	// a deployment of this document.
	for _, h := range known {
		if h == nil {
			continue
		}
		for key, id := range h.openFailures {
			dep := h.byKey(strings.TrimPrefix(key, "failure:"))
			if dep == nil {
				continue
			}
			if next := h.after(dep.Time); next != nil {
				incidents = append(incidents, incident{Incident: Incident{App: dep.App, ResolvedAt: &next.Time}, key: key, existing: id})
			}
		}
	}
	for _, inc := range incidents {
		h := known[inc.App]
		id, seen := h.keys[inc.key]
		switch {
		case !seen:
			h.keys[inc.key] = 0
			p.incidents = append(p.incidents, inc)
		case inc.existing != 0:
			p.incidents = append(p.incidents, inc)
		case id != 0 && h.open[id] && inc.ResolvedAt != nil:
			// Imported open before; the document now says when it ended.
			inc.existing = id
			delete(h.open, id)
			p.incidents = append(p.incidents, inc)
		default:
			p.skipped++
		}
	}
	return p, nil
}

// appHistory is what was imported for an app before, and what this import adds.
type appHistory struct {
	keys         map[string]int64 // import keys seen; the incident's ID for incidents
	open         map[int64]bool   // imported incidents still open
	openFailures map[string]int64 // open failure marks by import key
	deployments  []deployment     // imported before and now, by time once planned
}

func loadHistory(ctx context.Context, st *store.Store, app string) (*appHistory, error) {
	if _, err := st.GetApp(ctx, app); err != nil {
		return nil, err
	}
	evs, err := st.Events(ctx, store.EventQuery{App: app, Types: []string{EventPromoted, EventIncidentOpened}})
	if err != nil {
		return nil, err
	}
	h := &appHistory{keys: map[string]int64{}, open: map[int64]bool{}, openFailures: map[string]int64{}}
	for _, e := range evs {
		var data struct {
			Key      string `json:"import_key"`
			Commit   string `json:"commit"`
			Tag      string `json:"tag"`
			Status   string `json:"status"`
			Incident int64  `json:"incident"`
		}
		if json.Unmarshal(e.Data, &data) != nil || data.Key == "" {
			continue
		}
		h.keys[data.Key] = data.Incident
		if e.Type == EventPromoted {
			h.deployments = append(h.deployments, deployment{Deployment: Deployment{App: app, Commit: data.Commit,
				Time: e.Time, Tag: data.Tag, Status: data.Status}, key: data.Key})
		}
	}
	open, err := st.Incidents(ctx, store.IncidentQuery{App: app, Open: true})
	if err != nil {
		return nil, err
	}
	for _, in := range open {
		if in.Cause == store.CauseImport {
			h.open[in.ID] = true
		}
	}
	for key, id := range h.keys {
		if id != 0 && h.open[id] && strings.HasPrefix(key, "failure:") {
			h.openFailures[key] = id
		}
	}
	return h, nil
}

// find returns the deployment an incident names by commit (a prefix will do) or
// tag: the last one at or before the incident opened, or else the first after.
// Otherwise it says which field is wrong and why.
func (h *appHistory) find(in Incident) (*deployment, string, string) {
	field, want := "tag", in.Tag
	match := func(d deployment) bool { return d.Tag == in.Tag }
	if in.Commit != "" {
		field, want = "commit", strings.ToLower(in.Commit)
		match = func(d deployment) bool { return strings.HasPrefix(d.Commit, want) || strings.HasPrefix(want, d.Commit) }
	}
	var found *deployment
	for i := range h.deployments {
		d := &h.deployments[i]
		if !match(*d) {
			continue
		}
		if found == nil || !d.Time.After(in.OpenedAt) {
			found = d
		}
	}
	if found == nil {
		return nil, field, fmt.Sprintf("no deployment of app %q with %s %q in this import or an earlier one", in.App, field, want)
	}
	return found, "", ""
}

// after returns the first deployment later than t.
func (h *appHistory) after(t time.Time) *deployment {
	for i := range h.deployments {
		if h.deployments[i].Time.After(t) {
			return &h.deployments[i]
		}
	}
	return nil
}

func (h *appHistory) byKey(key string) *deployment {
	for i := range h.deployments {
		if h.deployments[i].key == key {
			return &h.deployments[i]
		}
	}
	return nil
}

func openIncident(ctx context.Context, st *store.Store, in incident) error {
	rec := store.Incident{App: in.App, Title: in.Title, Cause: store.CauseImport, Details: in.Details,
		OpenedAt: in.OpenedAt, ResolvedAt: in.ResolvedAt}
	if rec.Details == "" && in.cause != nil {
		rec.Details = "caused by the deployment of " + cmp.Or(in.cause.Tag, short(in.cause.Commit)) +
			" at " + in.cause.Time.Format(time.RFC3339)
	}
	got, err := st.OpenIncident(ctx, rec)
	if err != nil {
		return fmt.Errorf("import incident %q: %w", in.Title, err)
	}
	data := map[string]any{"incident": got.ID, "cause": store.CauseImport, "title": got.Title, "import_key": in.key}
	if in.cause != nil {
		data["commit"] = in.cause.Commit
		data["deployed_at"] = in.cause.Time
		if in.cause.Tag != "" {
			data["tag"] = in.cause.Tag
		}
	}
	if err := appendEvent(ctx, st, store.Event{Type: EventIncidentOpened, App: in.App, Time: got.OpenedAt}, data); err != nil {
		return fmt.Errorf("import incident %q: %w", in.Title, err)
	}
	if got.ResolvedAt != nil {
		if err := appendEvent(ctx, st, store.Event{Type: EventIncidentResolved, App: in.App, Time: *got.ResolvedAt},
			map[string]any{"incident": got.ID, "resolved_by": 0}); err != nil {
			return fmt.Errorf("import incident %q: %w", in.Title, err)
		}
	}
	return nil
}

func resolve(ctx context.Context, st *store.Store, app string, id int64, at time.Time) error {
	got, err := st.ResolveIncident(ctx, id, 0, at)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return appendEvent(ctx, st, store.Event{Type: EventIncidentResolved, App: app, Time: *got.ResolvedAt},
		map[string]any{"incident": id, "resolved_by": 0})
}

func appendEvent(ctx context.Context, st *store.Store, e store.Event, data map[string]any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	e.Data = b
	_, err = st.AppendEvent(ctx, e)
	return err
}

func short(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}
