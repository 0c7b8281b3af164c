//go:build !unix

package build

import "os/exec"

// inOwnProcessGroup is a no-op where process groups do not exist; cancelling
// then kills the shell only.
func inOwnProcessGroup(cmd *exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {}
