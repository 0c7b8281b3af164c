package build

import (
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// goMainPackage finds the package the default Go build compiles: the module root
// if it is a main package, else the only main package under cmd/.
func goMainPackage(dir string) (string, error) {
	if isMainPackage(dir) {
		return ".", nil
	}
	entries, err := os.ReadDir(filepath.Join(dir, "cmd"))
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("look for Go commands: %w", err)
	}
	var cmds []string
	for _, e := range entries {
		if e.IsDir() && isMainPackage(filepath.Join(dir, "cmd", e.Name())) {
			cmds = append(cmds, "./cmd/"+e.Name())
		}
	}
	sort.Strings(cmds)
	switch len(cmds) {
	case 1:
		return cmds[0], nil
	case 0:
		return "", fmt.Errorf("found no main package at the root of the Go module or in cmd/*: " +
			"set build: and run: in prosper.yaml, such as\n  build: go build -o bin/app ./path/to/main\n  run: bin/app")
	}
	return "", fmt.Errorf("the Go module has several commands (%s): choose one with build: and run: in prosper.yaml, such as\n"+
		"  build: go build -o bin/app %s\n  run: bin/app", strings.Join(cmds, ", "), cmds[0])
}

// isMainPackage reports whether dir holds a main package for this platform,
// honouring build constraints so that a "//go:build ignore" generator does not
// count.
func isMainPackage(dir string) bool {
	pkg, err := build.Default.ImportDir(dir, 0)
	return err == nil && pkg.Name == "main"
}
