package kubebuild

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The Job's script, run here by the same /bin/sh, runs each step in turn,
// stops at the first that fails with its exit code, and its output read
// back tells which step failed and how it ended.
func TestScriptAndLog(t *testing.T) {
	tests := []struct {
		name     string
		steps    []string
		wantCode int
		wantStep int
		wantTail []string
	}{
		{"all pass", []string{"echo one", "cd /; echo two"}, 0, 1, []string{"two"}},
		{"second fails", []string{"echo first", "echo about to fail; echo why >&2; exit 3", "echo never"}, 3, 1, []string{"about to fail", "why"}},
		{"multi-line step", []string{"echo a\necho 'it''s' b\nexit 7"}, 7, 0, []string{"a", "its b"}},
		{"quotes in a step", []string{`printf '%s\n' "$ not an echo" 'x'; false`}, 1, 0, []string{"$ not an echo", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", script(tt.steps))
			cmd.Dir = t.TempDir()
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code %d; want %d\n%s", code, tt.wantCode, out)
			}
			var log bytes.Buffer
			step, tail, err := scanLog(bytes.NewReader(out), tt.steps, &log)
			if err != nil || step != tt.wantStep || !slices.Equal(tail, tt.wantTail) {
				t.Errorf("scanLog = step %d, tail %q, %v; want step %d, tail %q\n%s", step, tail, err, tt.wantStep, tt.wantTail, out)
			}
			if log.String() != string(out) {
				t.Errorf("the log passed on differs from the output:\n%s\nwant\n%s", log.String(), out)
			}
			// In a container stdout and stderr are two pipes, logged in
			// whatever order they are read: the script sends all to stdout.
			var stdout, stderr bytes.Buffer
			split := exec.Command("/bin/sh", "-c", script(tt.steps))
			split.Dir, split.Stdout, split.Stderr = cmd.Dir, &stdout, &stderr
			_ = split.Run()
			if stderr.Len() > 0 || stdout.String() != string(out) {
				t.Errorf("with stdout and stderr apart, stdout is %q and stderr %q; want all of it, in order, on stdout", stdout.String(), stderr.String())
			}
			if first, _, _ := strings.Cut(tt.steps[0], "\n"); !strings.HasPrefix(string(out), "$ "+first+"\n") {
				t.Errorf("the output does not start with the first step's echo:\n%s", out)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	for dir, want := range map[string]string{"/data/releases/shop/v12": "v12-", "/data/releases/shop/3": "v3-", "/tmp/x/release": ""} {
		if got := release(dir); got != want {
			t.Errorf("release(%q) = %q; want %q", dir, got, want)
		}
	}
}
