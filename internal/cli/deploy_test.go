package cli

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitHead(t *testing.T) {
	home := isolate(t)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_AUTHOR_NAME", "Ada")
	t.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "Ada")
	t.Setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
	ctx := context.Background()
	dir := filepath.Join(home, "src")
	write(t, filepath.Join(dir, "main.go"), "package main\n")
	if got := gitHead(ctx, dir); got != "" {
		t.Errorf("gitHead of a directory that is not a checkout = %q", got)
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet")
	if got := gitHead(ctx, dir); got != "" {
		t.Errorf("gitHead of a checkout without commits = %q", got)
	}
	git("add", ".")
	git("commit", "--quiet", "-m", "first")
	sha := git("rev-parse", "HEAD")
	if got := gitHead(ctx, dir); got != sha {
		t.Errorf("gitHead of a clean checkout = %q, want %s", got, sha)
	}
	// A changed or new file: the tree sent is not that commit.
	write(t, filepath.Join(dir, "new.txt"), "x")
	if got := gitHead(ctx, dir); got != "" {
		t.Errorf("gitHead of a checkout with changes = %q", got)
	}
}
