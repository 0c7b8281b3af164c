package importer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/store"
)

func newStore(t *testing.T, apps ...string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range apps {
		if _, err := st.CreateApp(context.Background(), store.App{Name: a}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// logOf returns the app's events, one line each: type, release, time (hours
// after day0) and the data fields named.
func logOf(t *testing.T, st *store.Store, app string) []store.Event {
	t.Helper()
	evs, err := st.Events(context.Background(), store.EventQuery{App: app})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func dataOf(t *testing.T, e store.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event %s data %s: %v", e.Type, e.Data, err)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestApplyDocument(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, "shop", "blog")
	doc := Document{
		Commits: []Commit{
			{App: "shop", SHA: "aaaa1111", CommitTime: hours(0), Author: "Ada <ada@example.com>", Message: "first"},
			{App: "shop", SHA: "BBBB2222", Parents: []string{"AAAA1111"}, CommitTime: hours(1), AuthorTime: hours(-2)},
		},
		Deployments: []Deployment{
			{App: "shop", Commit: "bbbb2222", Time: hours(5), Tag: "v2", Status: StatusFailure}, // an incident names it
			{App: "shop", Commit: "aaaa1111", Time: hours(2), Tag: "v1"},
			{App: "blog", Commit: "cccc3333", Time: hours(3), Status: StatusFailure}, // marked failed; next deploy resolves it
			{App: "blog", Commit: "dddd4444", Time: hours(4)},
		},
		Incidents: []Incident{
			{App: "shop", Title: "checkout down", OpenedAt: hours(6), ResolvedAt: ptr(hours(7)), Tag: "v2"},
			{App: "shop", Title: "disk full", OpenedAt: hours(8)}, // no deployment caused it; still open
		},
	}
	sum, err := Apply(ctx, st, doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Summary{Commits: 2, Deployments: 4, Incidents: 3}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}

	c, err := st.GetCommit(ctx, "shop", "bbbb2222")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Parents) != 1 || c.Parents[0] != "aaaa1111" || !c.PushedAt.Equal(hours(1)) || !c.AuthorTime.Equal(hours(-2)) {
		t.Errorf("commit = %+v; want lower-case parents and pushed at its commit time", c)
	}

	// The shop's log: promotions at their times with release 0, and the
	// incident linked to v2's deployment.
	var lines []string
	for _, e := range logOf(t, st, "shop") {
		d := dataOf(t, e)
		line := e.Type + " " + e.Time.Sub(day0).String()
		switch e.Type {
		case EventPromoted:
			if e.Release != 0 || d["source"] != "import" || !strings.HasPrefix(d["import_key"].(string), "deployment:") {
				t.Errorf("promotion %+v %v", e, d)
			}
			line += " " + d["commit"].(string) + " " + d["status"].(string)
		case EventIncidentOpened:
			line += " " + d["title"].(string) + " " + d["cause"].(string)
			if d["commit"] != nil {
				line += " " + d["commit"].(string)
			}
		case EventIncidentResolved:
			line += " resolved_by=" + json.Number(strings.TrimSpace(string(mustJSON(t, d["resolved_by"])))).String()
		}
		lines = append(lines, line)
	}
	want := []string{
		"release.promoted 2h0m0s aaaa1111 success",
		"release.promoted 5h0m0s bbbb2222 failure",
		"incident.opened 6h0m0s checkout down import bbbb2222",
		"incident.resolved 7h0m0s resolved_by=0",
		"incident.opened 8h0m0s disk full import",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("shop's log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	incs, err := st.Incidents(ctx, store.IncidentQuery{App: "blog"})
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].Cause != store.CauseImport || !incs[0].OpenedAt.Equal(hours(3)) ||
		incs[0].ResolvedAt == nil || !incs[0].ResolvedAt.Equal(hours(4)) || !strings.Contains(incs[0].Title, "cccc3333") {
		t.Errorf("blog's failed deployment is marked by %+v; want an incident from 3h resolved at 4h by the next deployment", incs)
	}

	// Importing it again adds nothing.
	before := len(logOf(t, st, "shop")) + len(logOf(t, st, "blog"))
	sum, err = Apply(ctx, st, doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Summary{Commits: 2, Skipped: 6}); sum != want {
		t.Errorf("second import: summary = %+v, want %+v", sum, want)
	}
	if after := len(logOf(t, st, "shop")) + len(logOf(t, st, "blog")); after != before {
		t.Errorf("second import: %d events, want %d", after, before)
	}
	all, _ := st.Incidents(ctx, store.IncidentQuery{})
	if len(all) != 3 {
		t.Errorf("second import: %d incidents, want 3", len(all))
	}

	// A later document that says when the open incident ended resolves it,
	// once.
	doc.Incidents[1].ResolvedAt = ptr(hours(9))
	for i, want := range []Summary{{Commits: 2, Resolved: 1, Skipped: 5}, {Commits: 2, Skipped: 6}} {
		sum, err = Apply(ctx, st, doc)
		if err != nil {
			t.Fatal(err)
		}
		if sum != want {
			t.Errorf("import %d with the end of the incident: %+v, want %+v", i+3, sum, want)
		}
	}
	open, _ := st.Incidents(ctx, store.IncidentQuery{Open: true})
	if len(open) != 0 {
		t.Errorf("open incidents left: %+v", open)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestApplyFailureResolvedByALaterImport(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, "shop")
	first := Document{Deployments: []Deployment{{App: "shop", Commit: "abcd01", Time: hours(1), Status: StatusFailure}}}
	if _, err := Apply(ctx, st, first); err != nil {
		t.Fatal(err)
	}
	if open, _ := st.Incidents(ctx, store.IncidentQuery{Open: true}); len(open) != 1 {
		t.Fatalf("a failed deployment with no later one: %d open incidents, want 1", len(open))
	}
	// The fix deployment arrives in the next import, and an incident of the
	// earlier document can name its deployment.
	next := Document{
		Deployments: []Deployment{{App: "shop", Commit: "abcd02", Time: hours(3)}},
		Incidents:   []Incident{{App: "shop", Title: "slow", OpenedAt: hours(2), Commit: "abcd01"}},
	}
	sum, err := Apply(ctx, st, next)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Summary{Deployments: 1, Incidents: 1, Resolved: 1}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	incs, _ := st.Incidents(ctx, store.IncidentQuery{})
	for _, in := range incs {
		if in.Title != "slow" && (in.ResolvedAt == nil || !in.ResolvedAt.Equal(hours(3))) {
			t.Errorf("failure mark %+v; want resolved at 3h by the next deployment", in)
		}
	}
}

func TestApplyRejects(t *testing.T) {
	ctx := context.Background()
	good := Deployment{App: "shop", Commit: "abcd01", Time: hours(1)}
	tests := []struct {
		name string
		doc  Document
		want []string
	}{
		{"empty", Document{}, []string{"no commits, deployments or incidents"}},
		{"unknown app", Document{Deployments: []Deployment{good, {App: "nope", Commit: "abcd", Time: hours(1)}}},
			[]string{`deployments[1].app: unknown app "nope"`, "prosper app create nope"}},
		{"bad sha", Document{Commits: []Commit{{App: "shop", SHA: "xyz", CommitTime: hours(1)}}},
			[]string{`commits[0].sha: "xyz" is not a commit sha`}},
		{"bad parent", Document{Commits: []Commit{{App: "shop", SHA: "abcd", Parents: []string{"abcd", "no"}, CommitTime: hours(1)}}},
			[]string{`commits[0].parents[1]`}},
		{"no commit time", Document{Commits: []Commit{{App: "shop", SHA: "abcd"}}}, []string{"commits[0].commit_time: missing"}},
		{"no time", Document{Deployments: []Deployment{good, {App: "shop", Commit: "abcd"}}}, []string{"deployments[1].time: missing"}},
		{"bad status", Document{Deployments: []Deployment{{App: "shop", Commit: "abcd", Time: hours(1), Status: "ok"}}},
			[]string{`deployments[0].status: "ok"`, `"success" or "failure"`}},
		{"no title", Document{Incidents: []Incident{{App: "shop", OpenedAt: hours(1)}}}, []string{"incidents[0].title: missing"}},
		{"resolved before", Document{Incidents: []Incident{{App: "shop", Title: "x", OpenedAt: hours(2), ResolvedAt: ptr(hours(1))}}},
			[]string{"incidents[0].resolved_at: before opened_at"}},
		{"unknown tag", Document{Deployments: []Deployment{good}, Incidents: []Incident{{App: "shop", Title: "x", OpenedAt: hours(2), Tag: "v9"}}},
			[]string{`incidents[0].tag: no deployment of app "shop" with tag "v9"`}},
		{"unknown commit", Document{Incidents: []Incident{{App: "shop", Title: "x", OpenedAt: hours(2), Commit: "beef"}}},
			[]string{`incidents[0].commit: no deployment`}},
		{"both", Document{Incidents: []Incident{{App: "shop", Title: "x", OpenedAt: hours(2), Commit: "beef", Tag: "v1"}}},
			[]string{"incidents[0].tag: give commit or tag, not both"}},
		{"several", Document{Commits: []Commit{{App: "", SHA: "abcd", CommitTime: hours(1)}, {App: "shop", SHA: "abcd"}}},
			[]string{"commits[0].app: missing; commits[1].commit_time: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, "shop")
			_, err := Apply(ctx, st, tt.doc)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want %q", err, w)
				}
			}
			// All or nothing: the good items were not imported either.
			if evs := logOf(t, st, "shop"); len(evs) != 0 {
				t.Errorf("an invalid document wrote %d events", len(evs))
			}
			if cs, _ := st.ListCommits(ctx, "shop", 0); len(cs) != 0 {
				t.Errorf("an invalid document wrote %d commits", len(cs))
			}
		})
	}
}

func TestApplyGitHistory(t *testing.T) {
	ctx := context.Background()
	r, sha := history(t)
	st := newStore(t, "shop")
	doc, err := FromGit(ctx, GitOptions{App: "shop", Dir: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Summary{{Commits: 5, Deployments: 3}, {Commits: 5, Skipped: 3}} {
		sum, err := Apply(ctx, st, doc)
		if err != nil {
			t.Fatal(err)
		}
		if sum != want {
			t.Errorf("import %d: %+v, want %+v", i+1, sum, want)
		}
	}
	evs, _ := st.Events(ctx, store.EventQuery{App: "shop", Types: []string{EventPromoted}})
	var got []string
	for _, e := range evs {
		d := dataOf(t, e)
		got = append(got, d["tag"].(string)+"@"+e.Time.Sub(day0).String())
		if d["commit"] == sha["c3"] && d["tag"] != "v2" {
			t.Errorf("c3 deployed as %v", d["tag"])
		}
	}
	if strings.Join(got, " ") != "v1@0s v2.1@4h0m0s v2@29h0m0s" {
		t.Errorf("promotions = %v", got)
	}
	cs, _ := st.ListCommits(ctx, "shop", 0)
	if len(cs) != 5 {
		t.Errorf("%d commits stored, want 5", len(cs))
	}
}

// TestReadmeExample imports the example document of the README, so that the
// documented format stays the one accepted.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### Incidents and history import")
	if i < 0 {
		t.Fatal("the README has no section on the import")
	}
	s = s[i:]
	start := strings.Index(s, "```json\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the README's import section has no JSON example")
	}
	var doc Document
	dec := json.NewDecoder(strings.NewReader(s[start+8 : start+8+end]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	sum, err := Apply(context.Background(), newStore(t, "shop"), doc)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if want := (Summary{Commits: 1, Deployments: 2, Incidents: 1}); sum != want {
		t.Errorf("the README's example imported %+v, want %+v", sum, want)
	}
}
