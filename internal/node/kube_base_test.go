package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/runtime"
)

// A release built on a language base runs its command with the base's shell,
// as on the machine: pipes and && allowed, every $ reaching the shell as
// written rather than expanded by Kubernetes; without a record the minimal
// image's rules hold.
func TestContainerCommandOnBase(t *testing.T) {
	rel := t.TempDir()
	if err := image.WriteBase(rel, image.BaseRecord{Kind: "node", Ref: "example.com/node@sha256:" + strings.Repeat("a", 64)}); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string][]string{
		"node server.js":                         {"/bin/sh", "-c", "node server.js"},
		"  npm start --port $PORT  ":             {"/bin/sh", "-c", "npm start --port $$PORT"},
		"python3 app.py | tee x && echo $(date)": {"/bin/sh", "-c", "python3 app.py | tee x && echo $$(date)"},
	} {
		got, err := containerCommand(runtime.Spec{ID: "a-v1", Artifact: rel, Command: in})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("containerCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := containerCommand(runtime.Spec{ID: "a-v1", Artifact: rel, Command: " "}); err == nil {
		t.Error("an empty command was accepted")
	}
	_, err := containerCommand(runtime.Spec{ID: "a-v1", Artifact: t.TempDir(), Command: "python3 app.py"})
	if err == nil || !strings.Contains(err.Error(), "image: in prosper.yaml") {
		t.Errorf("an interpreter on the minimal image: %v; want an error saying to set image:", err)
	}
}
