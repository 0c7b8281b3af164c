package testvalue

import (
	"context"
	"fmt"
	"os/exec"
	"path"
	"strings"
)

// catchKind is what a failure's fix turned out to be.
type catchKind int

const (
	catchNone    catchKind = iota // the commits do not differ: nothing was fixed
	catchReal                     // code other than tests changed: a real catch
	catchTestFix                  // only test files changed
	catchUnknown                  // the commits could not be compared
)

// catcher judges fixes, asking git once per pair of commits.
type catcher struct {
	git   ChangedFiles
	cache map[[3]string]catchKind
}

// judge tells what the change from to to of app was for a test that failed at
// from and passed at to. Only a cancelled context is an error.
func (c *catcher) judge(ctx context.Context, app, from, to string) (catchKind, error) {
	key := [3]string{app, from, to}
	if k, ok := c.cache[key]; ok {
		return k, nil
	}
	k := catchUnknown
	if c.git != nil {
		files, err := c.git.ChangedFiles(ctx, app, from, to)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
		} else {
			k = judgeFiles(files)
		}
	}
	c.cache[key] = k
	return k, nil
}

func judgeFiles(files []string) catchKind {
	if len(files) == 0 {
		return catchNone
	}
	for _, f := range files {
		if !IsTestFile(f) {
			return catchReal
		}
	}
	return catchTestFix
}

// testDirs are directories whose files are tests or their fixtures.
var testDirs = map[string]bool{"testdata": true, "test": true, "tests": true, "__tests__": true,
	"spec": true, "__snapshots__": true, "__mocks__": true, "fixtures": true}

// IsTestFile reports whether a repository path is a test file or test fixture by
// the conventions of Go (_test.go, testdata/), Python (test_*.py, *_test.py,
// conftest.py, tests/), JavaScript and TypeScript (*.test.*, *.spec.*,
// __tests__/), Java and Kotlin (src/test/, *Test.java, *Tests.java, *IT.java)
// and Ruby (*_spec.rb, *_test.rb, spec/). The report cannot know which files
// belong to one test, so a fix that touches only such files is a fix of the
// tests, and any other file makes it a fix of the code.
func IsTestFile(p string) bool {
	p = strings.ReplaceAll(p, "\\", "/")
	dir, base := path.Split(p)
	for _, seg := range strings.Split(strings.Trim(dir, "/"), "/") {
		if testDirs[seg] {
			return true
		}
	}
	if strings.Contains("/"+dir, "/src/test/") {
		return true
	}
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	switch ext {
	case ".go":
		return strings.HasSuffix(stem, "_test")
	case ".py":
		return strings.HasPrefix(stem, "test_") || strings.HasSuffix(stem, "_test") || stem == "conftest"
	case ".rb":
		return strings.HasSuffix(stem, "_spec") || strings.HasSuffix(stem, "_test")
	case ".java", ".kt", ".scala":
		return strings.HasSuffix(stem, "Test") || strings.HasSuffix(stem, "Tests") || strings.HasSuffix(stem, "IT")
	case ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs":
		return strings.HasSuffix(stem, ".test") || strings.HasSuffix(stem, ".spec")
	case ".snap":
		return true
	}
	return false
}

// GitDiff answers ChangedFiles from the apps' git repositories with
// git diff --name-only.
type GitDiff struct {
	// Repo returns the directory of an app's repository (bare or not).
	Repo func(app string) string
}

var _ ChangedFiles = GitDiff{}

// ChangedFiles lists the paths that differ between commits from and to. A
// commit the repository does not have is an error.
func (g GitDiff) ChangedFiles(ctx context.Context, app, from, to string) ([]string, error) {
	for _, c := range []string{from, to} {
		if !IsCommitSHA(c) {
			return nil, fmt.Errorf("changed files of %s: %q is not a commit SHA", app, c)
		}
	}
	cmd := exec.CommandContext(ctx, "git", "-C", g.Repo(app), "diff", "--name-only", "--no-renames", from, to, "--")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("changed files of %s from %s to %s: %v: %s", app, from, to, err, strings.TrimSpace(stderr.String()))
	}
	var files []string
	for line := range strings.Lines(string(out)) {
		if line = strings.TrimSpace(line); line != "" {
			files = append(files, line)
		}
	}
	return files, nil
}

// IsCommitSHA reports whether s is a hexadecimal commit SHA (4 to 64 digits):
// only those reach git, so that nothing a report carries is read as an option
// or a revision expression.
func IsCommitSHA(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
