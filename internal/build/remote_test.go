package build

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// stepRecorder is a Remote that writes down what it was handed; the real one,
// a Kubernetes Job, is tested in internal/kubebuild on a real node.
type stepRecorder struct{ got []RemoteBuild }

func (r *stepRecorder) Build(_ context.Context, b RemoteBuild) error {
	r.got = append(r.got, b)
	return nil
}

// With a Remote, everything but Go builds runs there; Go builds run here,
// and the Remote still hears of them so that image: can give them a base.
func TestBuildRemoteTakesTheSteps(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantKind  string
		wantSteps []string // handed to the Remote
		wantHere  string   // a file the steps run here create
	}{
		{"node", map[string]string{"package.json": `{"scripts": {"build": "touch built"}}`, "Procfile": "web: node server.js\n"},
			KindNode, []string{"npm install --no-audit --no-fund", "npm run build"}, ""},
		{"python", map[string]string{"requirements.txt": "", "Procfile": "web: python3 app.py\n"},
			KindPython, []string{"python3 -m pip install -r requirements.txt --target .prosper/python"}, ""},
		{"procfile", map[string]string{"Procfile": "web: python3 app.py\n"}, KindProcfile, nil, ""},
		{"custom", map[string]string{"prosper.yaml": "build: touch built\nrun: ./built\nimage: example.com/base:1\n"},
			KindCustom, []string{"touch built"}, ""},
		{"custom in a Go module without image", map[string]string{"go.mod": "module x\n", "prosper.yaml": "build: touch built\nrun: ./built\n"},
			KindCustom, nil, "built"},
		{"go", map[string]string{"go.mod": "module x\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"},
			KindGo, nil, ".prosper/bin/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			cfg, err := appconfig.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			rec := &stepRecorder{}
			b := &Builder{Remote: rec, Env: append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")}
			res, err := b.Build(context.Background(), Request{App: "a", Dir: dir, Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.got) != 1 {
				t.Fatalf("the Remote was called %d times; want once", len(rec.got))
			}
			got := rec.got[0]
			if got.Kind != tt.wantKind || res.Kind != tt.wantKind || !slices.Equal(got.Steps, tt.wantSteps) ||
				got.Dir != dir || got.App != "a" || got.Run != res.Command || got.Image != cfg.Image || got.Log == nil {
				t.Errorf("the Remote got %+v; want kind %s, steps %q, the tree, the run command and image:", got, tt.wantKind, tt.wantSteps)
			}
			if tt.wantHere != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.wantHere)); err != nil {
					t.Errorf("the build did not run here: %v", err)
				}
			} else if _, err := os.Stat(filepath.Join(dir, "built")); err == nil {
				t.Error("a step handed to the Remote ran here too")
			}
		})
	}
}
