package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/importer"
	"github.com/prosperhq/prosper/internal/store"
)

// gitRepo makes a repository with three commits on main, v1 a lightweight tag
// and v2 an annotated one.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run := func(date string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada",
			"GIT_COMMITTER_EMAIL=ada@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("2026-01-05T09:00:00Z", "init", "-q", "-b", "main")
	for i, date := range []string{"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z"} {
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(date), 0o644); err != nil {
			t.Fatal(err)
		}
		run(date, "add", "f.txt")
		run(date, "commit", "-q", "-m", "change "+string(rune('a'+i)))
		switch i {
		case 0:
			run(date, "tag", "v1")
		case 2:
			run("2026-01-08T12:00:00Z", "tag", "-a", "-m", "release two", "v2")
		}
	}
	return dir
}

func TestImportCommands(t *testing.T) {
	startPlatform(t)
	ok(t, "app", "create", "shop")
	repo := gitRepo(t)

	out := ok(t, "import", "git", "--app", "shop", "--repo", repo)
	if !strings.Contains(out, "imported of shop: 3 commits, 2 deployments, 0 incidents") {
		t.Errorf("first import said %q", out)
	}
	out = ok(t, "import", "git", "--app", "shop", "--repo", repo)
	if !strings.Contains(out, "0 deployments") || !strings.Contains(out, "2 deployments and incidents imported before were skipped") {
		t.Errorf("second import said %q", out)
	}
	if out := ok(t, "import", "git", "--app", "shop", "--repo", repo, "--tags", "release-*"); !strings.Contains(out, `no tag matches "release-*"`) {
		t.Errorf("import with no matching tag said %q", out)
	}

	// Another tool's history, from a file and from stdin.
	doc := `{"deployments": [{"app": "shop", "commit": "abcdef12", "time": "2026-02-01T10:00:00Z", "tag": "v3", "status": "failure"}],
 "incidents": [{"app": "shop", "title": "checkout down", "opened_at": "2026-02-01T10:05:00Z", "resolved_at": "2026-02-01T10:35:00Z", "tag": "v3"}]}`
	file := filepath.Join(t.TempDir(), "history.json")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, "import", "events", "--file", file); !strings.Contains(out, "1 deployments, 1 incidents") {
		t.Errorf("events import said %q", out)
	}
	if out := ok(t, "import", "events", "-f", file); !strings.Contains(out, "0 deployments, 0 incidents") {
		t.Errorf("events import again said %q", out)
	}

	var list []store.Incident
	if err := json.Unmarshal([]byte(ok(t, "incident", "list", "--app", "shop", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Cause != store.CauseImport || list[0].ResolvedAt == nil {
		t.Errorf("incidents after the import: %+v", list)
	}

	// The control plane holds it all.
	commits := []store.Commit{}
	if err := json.Unmarshal([]byte(getAPI(t, "/api/apps/shop/commits")), &commits); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 3 {
		t.Errorf("%d commits, want 3", len(commits))
	}
	var evs []store.Event
	if err := json.Unmarshal([]byte(getAPI(t, "/api/events?app=shop")), &evs); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, e := range evs {
		var d map[string]any
		_ = json.Unmarshal(e.Data, &d)
		if e.Type == importer.EventPromoted {
			tags = append(tags, d["tag"].(string)+"@"+e.Time.Format("01-02T15"))
		}
	}
	if got := strings.Join(tags, " "); got != "v1@01-05T09 v2@01-08T12 v3@02-01T10" {
		t.Errorf("promotions = %s", got)
	}

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"import", "git", "--repo", repo}, []string{"which app? pass --app NAME"}},
		{[]string{"import", "git", "--app", "nope", "--repo", repo}, []string{"nothing was imported", `unknown app "nope"`}},
		{[]string{"import", "git", "--app", "shop", "--repo", repo, "--branch", "trunk"}, []string{`branch "trunk" is not in the repository`}},
		{[]string{"import", "events"}, []string{"which file? pass --file FILE"}},
		{[]string{"import", "events", "--file", filepath.Join(repo, "nope.json")}, []string{"nope.json", "no such file"}},
		{[]string{"import", "events", "--file", filepath.Join(repo, "f.txt")}, []string{"is not an import document", "README"}},
	}
	for _, tt := range tests {
		fails(t, tt.want, tt.args...)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"deployments": [{"app": "shop", "commit": "abcd", "time": "2026-01-01T00:00:00Z", "status": "meh"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	fails(t, []string{"nothing was imported", `deployments[0].status: "meh"`}, "import", "events", "--file", bad)
}

// getAPI reads a resource of the API of the test's platform.
func getAPI(t *testing.T, path string) string {
	t.Helper()
	var raw json.RawMessage
	if err := (&env{}).get(context.Background(), path, &raw); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return string(raw)
}
