package importer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repo is a real git repository in a temporary directory whose commits and tags
// get the dates the test gives them.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &repo{t: t, dir: t.TempDir()}
	r.git(time.Time{}, "init", "-q", "-b", "main")
	return r
}

// git runs git in the repository with author, committer and tagger dates at when.
func (r *repo) git(when time.Time, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	if !when.IsZero() {
		d := when.Format(time.RFC3339)
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes a file and commits it at when, returning the sha.
func (r *repo) commit(when time.Time, file, msg string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, file), []byte(msg+"\n"), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git(when, "add", file)
	r.git(when, "commit", "-q", "-m", msg)
	return r.git(time.Time{}, "rev-parse", "HEAD")
}

var day0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func hours(n int) time.Time { return day0.Add(time.Duration(n) * time.Hour) }

// history makes: c1 ← c2 ← c3 on main, c4 on a hotfix branch from c2, merged
// back as m5; v1 lightweight on c1, v2 annotated on c3 (tagged a day later),
// v2.1 annotated on c4, "nightly" lightweight on m5 (not a deployment tag).
func history(t *testing.T) (*repo, map[string]string) {
	r := newRepo(t)
	s := map[string]string{}
	s["c1"] = r.commit(hours(0), "a.txt", "first")
	r.git(hours(1), "tag", "v1")
	s["c2"] = r.commit(hours(2), "a.txt", "second\n\nwith a body")
	r.git(hours(2), "checkout", "-q", "-b", "hotfix")
	s["c4"] = r.commit(hours(3), "b.txt", "hotfix")
	r.git(hours(4), "tag", "-a", "-m", "hotfix release", "v2.1")
	r.git(hours(4), "checkout", "-q", "main")
	s["c3"] = r.commit(hours(5), "a.txt", "third")
	r.git(hours(29), "tag", "-a", "-m", "release 2", "v2")
	r.git(hours(30), "merge", "-q", "--no-ff", "-m", "merge hotfix", "hotfix")
	s["m5"] = r.git(time.Time{}, "rev-parse", "HEAD")
	r.git(hours(31), "tag", "nightly")
	return r, s
}

func TestFromGit(t *testing.T) {
	r, sha := history(t)
	doc, err := FromGit(context.Background(), GitOptions{App: "shop", Dir: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("the document of a repository is invalid: %v", err)
	}
	commits := map[string]Commit{}
	for _, c := range doc.Commits {
		commits[c.SHA] = c
	}
	// The hotfix commit is on main through the merge.
	if len(commits) != 5 {
		t.Fatalf("%d commits, want 5: %+v", len(commits), doc.Commits)
	}
	m5 := commits[sha["m5"]]
	if len(m5.Parents) != 2 || m5.Parents[0] != sha["c3"] || m5.Parents[1] != sha["c4"] {
		t.Errorf("merge parents = %v, want [c3 c4]", m5.Parents)
	}
	c2 := commits[sha["c2"]]
	if c2.App != "shop" || c2.Branch != "main" || c2.Author != "Ada <ada@example.com>" ||
		!c2.CommitTime.Equal(hours(2)) || !c2.AuthorTime.Equal(hours(2)) || c2.Message != "second\n\nwith a body" ||
		len(c2.Parents) != 1 || c2.Parents[0] != sha["c1"] {
		t.Errorf("c2 = %+v", c2)
	}
	if c1 := commits[sha["c1"]]; len(c1.Parents) != 0 {
		t.Errorf("the root commit has parents %v", c1.Parents)
	}

	got := map[string]Deployment{}
	for _, d := range doc.Deployments {
		got[d.Tag] = d
	}
	want := map[string]Deployment{
		"v1":   {App: "shop", Commit: sha["c1"], Time: hours(0), Tag: "v1", Status: StatusSuccess},   // lightweight: the commit's date
		"v2":   {App: "shop", Commit: sha["c3"], Time: hours(29), Tag: "v2", Status: StatusSuccess},  // annotated: the tagger's date
		"v2.1": {App: "shop", Commit: sha["c4"], Time: hours(4), Tag: "v2.1", Status: StatusSuccess}, // not on main, still a deployment
	}
	if len(got) != len(want) {
		t.Errorf("deployments %+v, want %+v", doc.Deployments, want)
	}
	for tag, w := range want {
		g, ok := got[tag]
		if !ok || g.Commit != w.Commit || !g.Time.Equal(w.Time) || g.App != w.App || g.Status != w.Status {
			t.Errorf("deployment %s = %+v, want %+v", tag, g, w)
		}
	}

	// Another pattern, another branch.
	doc, err = FromGit(context.Background(), GitOptions{App: "shop", Dir: r.dir, Branch: "hotfix", Tags: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Commits) != 3 || len(doc.Deployments) != 1 || doc.Deployments[0].Commit != sha["m5"] {
		t.Errorf("hotfix/nightly: %d commits, deployments %+v", len(doc.Commits), doc.Deployments)
	}
}

func TestFromGitErrors(t *testing.T) {
	r, _ := history(t)
	tests := []struct {
		name string
		o    GitOptions
		want string
	}{
		{"unknown branch", GitOptions{Dir: r.dir, Branch: "trunk"}, `branch "trunk" is not in the repository`},
		{"not a repository", GitOptions{Dir: t.TempDir()}, "is not in the repository"},
		{"missing directory", GitOptions{Dir: filepath.Join(r.dir, "nope")}, "nope is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromGit(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
