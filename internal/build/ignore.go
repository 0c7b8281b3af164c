package build

import (
	"fmt"
	"path"
	"strings"
)

// ignoreFile lists, at the root of a tree, paths PackDir leaves out.
const ignoreFile = ".prosperignore"

// ignoreRule is one line of .prosperignore, read the way .gitignore is, for the
// simple cases: globs, a leading "/" or an inner "/" to anchor at the root, a
// trailing "/" for directories only, "**" for any number of directories, and "!"
// to take a path back. A later line wins over an earlier one.
type ignoreRule struct {
	negate   bool
	dirOnly  bool
	anchored bool     // matched against the whole path, not just the last name
	parts    []string // the pattern split at "/"
}

type ignoreRules []ignoreRule

// parseIgnore reads .prosperignore content. A malformed glob is an error rather
// than a silently ignored line, since it would pack what the user meant to omit.
func parseIgnore(data string) (ignoreRules, error) {
	var rules ignoreRules
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimRight(line, " \r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var r ignoreRule
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, rest
		}
		if rest, ok := strings.CutSuffix(line, "/"); ok {
			r.dirOnly, line = true, rest
		}
		if rest, ok := strings.CutPrefix(line, "/"); ok {
			r.anchored, line = true, rest
		}
		if strings.Contains(line, "/") {
			r.anchored = true
		}
		r.parts = strings.Split(line, "/")
		for _, part := range r.parts {
			if _, err := path.Match(part, ""); err != nil || part == "" {
				return nil, fmt.Errorf("%s:%d: %q is not a valid pattern", ignoreFile, i+1, line)
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ignored reports whether the slash-separated path rel, relative to the root, is
// left out.
func (rules ignoreRules) ignored(rel string, isDir bool) bool {
	ignored := false
	names := strings.Split(rel, "/")
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		var match bool
		if r.anchored {
			match = matchParts(r.parts, names)
		} else {
			match = matchParts(r.parts, names[len(names)-1:])
		}
		if match {
			ignored = !r.negate
		}
	}
	return ignored
}

// matchParts matches path names against pattern parts, "**" standing for zero or
// more names.
func matchParts(parts, names []string) bool {
	for len(parts) > 0 {
		if parts[0] == "**" {
			for skip := 0; skip <= len(names); skip++ {
				if matchParts(parts[1:], names[skip:]) {
					return true
				}
			}
			return false
		}
		if len(names) == 0 {
			return false
		}
		if ok, _ := path.Match(parts[0], names[0]); !ok {
			return false
		}
		parts, names = parts[1:], names[1:]
	}
	return len(names) == 0
}
