package compare

import (
	"fmt"
	"slices"
)

// Ignore is a compiled set of ignore paths (prosper.yaml verify.ignore). A
// matched node is skipped with everything below it, so ignoring $.meta ignores
// $.meta.etag too. The zero value ignores nothing.
type Ignore struct {
	raw      []string
	patterns [][]segment
}

// CompileIgnore parses ignore paths written in the subset of JSONPath described
// on path.go: $.now, $.items[*].id, $..request_id.
func CompileIgnore(paths []string) (Ignore, error) {
	ig := Ignore{raw: slices.Clone(paths)}
	for _, p := range paths {
		segs, err := parsePath(p)
		if err != nil {
			return Ignore{}, fmt.Errorf("compile ignore path: %w", err)
		}
		ig.patterns = append(ig.patterns, segs)
	}
	return ig, nil
}

// MustCompileIgnore is CompileIgnore for constant paths in tests and defaults;
// it panics on a syntax error.
func MustCompileIgnore(paths ...string) Ignore {
	ig, err := CompileIgnore(paths)
	if err != nil {
		panic(err)
	}
	return ig
}

// Paths returns the paths the set was compiled from.
func (ig Ignore) Paths() []string { return slices.Clone(ig.raw) }

// Match reports whether a concrete path such as $.items[3].id, or one of its
// ancestors, is ignored.
func (ig Ignore) Match(path string) bool {
	if len(ig.patterns) == 0 {
		return false
	}
	segs, err := parsePath(path)
	if err != nil {
		return false
	}
	for n := 0; n <= len(segs); n++ {
		if ig.matchSegs(segs[:n]) {
			return true
		}
	}
	return false
}

// matchSegs reports whether the node at exactly this path is ignored.
func (ig Ignore) matchSegs(path []segment) bool {
	for _, p := range ig.patterns {
		if matchPattern(p, path) {
			return true
		}
	}
	return false
}
