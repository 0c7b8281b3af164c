package importer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// GitOptions say which history of a local repository to import.
type GitOptions struct {
	App    string // the prosper app the history belongs to
	Dir    string // the repository (any directory inside it); "" is the current directory
	Branch string // the branch whose commits are imported; "" is "main"
	Tags   string // the pattern of the tags that mark deployments (git's glob); "" is "v*"
}

// FromGit reads a local repository's history: every commit of the branch, with
// its parents, and each tag matching the pattern as a past deployment of its
// commit at the tag's date (an annotated tag's tagger date, a lightweight tag's
// commit date). Tags need not be on the branch: a hotfix tagged elsewhere was a
// deployment too.
func FromGit(ctx context.Context, o GitOptions) (Document, error) {
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.Tags == "" {
		o.Tags = "v*"
	}
	var doc Document
	if o.Dir != "" {
		if fi, err := os.Stat(o.Dir); err != nil || !fi.IsDir() {
			return doc, fmt.Errorf("repository %s is not a directory", o.Dir)
		}
	}
	if _, err := git(ctx, o.Dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+o.Branch+"^{commit}"); err != nil {
		return doc, fmt.Errorf("branch %q is not in the repository %s: pass the deploy branch with --branch", o.Branch, dirName(o.Dir))
	}
	raw, err := git(ctx, o.Dir, "log", "-z", "--format=%H%x1f%an <%ae>%x1f%aI%x1f%cI%x1f%P%x1f%B", "refs/heads/"+o.Branch)
	if err != nil {
		return doc, err
	}
	for rec := range bytes.SplitSeq(raw, []byte{0}) {
		f := strings.SplitN(strings.TrimLeft(string(rec), "\n"), "\x1f", 6)
		if len(f) != 6 {
			continue
		}
		at, err1 := time.Parse(time.RFC3339, f[2])
		ct, err2 := time.Parse(time.RFC3339, f[3])
		if err1 != nil || err2 != nil {
			return doc, fmt.Errorf("git log: commit %s: unreadable dates %q, %q", f[0], f[2], f[3])
		}
		doc.Commits = append(doc.Commits, Commit{App: o.App, SHA: f[0], Branch: o.Branch, Author: f[1],
			AuthorTime: at.UTC(), CommitTime: ct.UTC(), Parents: strings.Fields(f[4]), Message: strings.TrimSpace(f[5])})
	}
	// One line per tag: its name, the type of object it names, the commit an
	// annotated tag points to and its tagger date, and for a lightweight tag
	// its commit and the commit's date.
	raw, err = git(ctx, o.Dir, "for-each-ref", "--sort=creatordate",
		"--format=%(refname:strip=2)%1f%(objecttype)%1f%(*objecttype)%1f%(*objectname)%1f%(taggerdate:iso-strict)%1f%(objectname)%1f%(committerdate:iso-strict)",
		"refs/tags/"+o.Tags)
	if err != nil {
		return doc, err
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Split(line, "\x1f")
		if len(f) != 7 {
			continue
		}
		name, kind := f[0], f[1]
		var sha, when string
		switch {
		case kind == "tag" && f[2] == "commit":
			sha, when = f[3], f[4]
		case kind == "commit":
			sha, when = f[5], f[6]
		default:
			continue // a tag of a tree or a blob, or of another tag: not a deployment
		}
		t, err := time.Parse(time.RFC3339, when)
		if err != nil {
			return doc, fmt.Errorf("tag %s: unreadable date %q", name, when)
		}
		doc.Deployments = append(doc.Deployments, Deployment{App: o.App, Commit: sha, Time: t.UTC(), Tag: name, Status: StatusSuccess})
	}
	return doc, nil
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s in %s: %s", args[0], dirName(dir), msg)
	}
	return out, nil
}

func dirName(dir string) string {
	if dir == "" {
		return "the current directory"
	}
	return dir
}
