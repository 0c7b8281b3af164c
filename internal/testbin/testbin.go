// Package testbin builds the prosper binary for tests that run it as a real
// process: the node a control plane spawns, git's hook, the CLI.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Main builds prosper into a temporary directory, stores its path in bin, runs
// the package's tests and removes the binary. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &prosperBin)) }
func Main(m *testing.M, bin *string) int {
	path, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	*bin = path
	return m.Run()
}

// Build builds ./cmd/prosper of this module and returns its path and a function
// that removes it.
func Build() (string, func(), error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", nil, fmt.Errorf("find the module: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	dir, err := os.MkdirTemp("", "prosper-test-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "prosper")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/prosper")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build prosper: %v\n%s", err, out)
	}
	return bin, cleanup, nil
}
