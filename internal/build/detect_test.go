package build

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/appconfig"
)

const mainGo = "package main\n\nfunc main() {}\n"

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		cfg     appconfig.Config
		want    plan
		wantErr string
	}{
		{
			name:  "go module with main at the root",
			files: map[string]string{"go.mod": "module x\n", "main.go": mainGo},
			want:  plan{kind: KindGo, steps: []string{`go build -buildvcs=false -ldflags="-s -w" -o .prosper/bin/app .`}, run: ".prosper/bin/app"},
		},
		{
			name: "go module with one command",
			files: map[string]string{"go.mod": "module x\n", "lib.go": "package x\n",
				"cmd/server/main.go": mainGo, "cmd/README": "not a command"},
			want: plan{kind: KindGo, steps: []string{`go build -buildvcs=false -ldflags="-s -w" -o .prosper/bin/app ./cmd/server`}, run: ".prosper/bin/app"},
		},
		{
			name: "go generator behind a build constraint is not the main package",
			files: map[string]string{"go.mod": "module x\n", "lib.go": "package x\n",
				"gen.go": "//go:build ignore\n\npackage main\n\nfunc main() {}\n", "cmd/app/main.go": mainGo},
			want: plan{kind: KindGo, steps: []string{`go build -buildvcs=false -ldflags="-s -w" -o .prosper/bin/app ./cmd/app`}, run: ".prosper/bin/app"},
		},
		{
			name: "go test files do not make a main package",
			files: map[string]string{"go.mod": "module x\n", "lib.go": "package x\n",
				"x_test.go": "package main\n"},
			wantErr: "found no main package at the root of the Go module or in cmd/*",
		},
		{
			name:    "go module with several commands",
			files:   map[string]string{"go.mod": "module x\n", "cmd/api/main.go": mainGo, "cmd/worker/main.go": mainGo},
			wantErr: "the Go module has several commands (./cmd/api, ./cmd/worker): choose one with build: and run: in prosper.yaml",
		},
		{
			name:  "go module with several commands and build: set",
			files: map[string]string{"go.mod": "module x\n", "cmd/api/main.go": mainGo, "cmd/worker/main.go": mainGo},
			cfg:   appconfig.Config{Build: "go build -o bin/api ./cmd/api", Run: "bin/api"},
			want:  plan{kind: KindCustom, steps: []string{"go build -o bin/api ./cmd/api"}, run: "bin/api"},
		},
		{
			name:  "go module with a Procfile runs the web line",
			files: map[string]string{"go.mod": "module x\n", "main.go": mainGo, "Procfile": "web: .prosper/bin/app -serve\n"},
			want:  plan{kind: KindGo, steps: []string{`go build -buildvcs=false -ldflags="-s -w" -o .prosper/bin/app .`}, run: ".prosper/bin/app -serve"},
		},
		{
			name:  "run: wins over the Procfile",
			files: map[string]string{"Procfile": "web: python3 app.py\n"},
			cfg:   appconfig.Config{Run: "python3 -m app"},
			want:  plan{kind: KindCustom, run: "python3 -m app"},
		},
		{
			name:  "Procfile only",
			files: map[string]string{"Procfile": "# processes\nrelease: ./migrate\nweb:   python3 app.py  \nworker: python3 worker.py\n"},
			want:  plan{kind: KindProcfile, run: "python3 app.py"},
		},
		{
			name:    "Procfile without web",
			files:   map[string]string{"Procfile": "worker: python3 worker.py\nclock: python3 clock.py\n"},
			wantErr: "the Procfile has no web: line (it has worker, clock)",
		},
		{
			name:  "npm with a lockfile and scripts",
			files: map[string]string{"package.json": `{"scripts": {"build": "tsc", "start": "node dist/server.js"}}`, "package-lock.json": "{}"},
			want:  plan{kind: KindNode, steps: []string{"npm ci --no-audit --no-fund", "npm run build"}, run: "npm start"},
		},
		{
			name:  "npm without a lockfile, Procfile for running",
			files: map[string]string{"package.json": `{"name": "x"}`, "Procfile": "web: node server.js\n"},
			want:  plan{kind: KindNode, steps: []string{"npm install --no-audit --no-fund"}, run: "node server.js"},
		},
		{
			name:    "npm with nothing to run",
			files:   map[string]string{"package.json": `{"scripts": {"build": "tsc"}}`},
			wantErr: ErrNoRunCommand.Error(),
		},
		{
			name:    "broken package.json",
			files:   map[string]string{"package.json": `{"scripts": `},
			wantErr: "read package.json: unexpected end of JSON input",
		},
		{
			name:  "python requirements",
			files: map[string]string{"requirements.txt": "flask\n", "Procfile": "web: python3 app.py\n"},
			want: plan{kind: KindPython, steps: []string{"python3 -m pip install -r requirements.txt --target .prosper/python"},
				run: "python3 app.py", env: map[string]string{"PYTHONPATH": ".prosper/python"}},
		},
		{
			name:  "custom build with a Procfile",
			files: map[string]string{"Makefile": "all:\n", "Procfile": "web: ./server\n"},
			cfg:   appconfig.Config{Build: "make"},
			want:  plan{kind: KindCustom, steps: []string{"make"}, run: "./server"},
		},
		{
			name:    "custom build of a Go module without a run command",
			files:   map[string]string{"go.mod": "module x\n", "main.go": mainGo},
			cfg:     appconfig.Config{Build: "go build -o server ."},
			wantErr: ErrNoRunCommand.Error(),
		},
		{
			name:    "empty tree",
			files:   map[string]string{"README.md": "hello"},
			wantErr: ErrNoRunCommand.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			got, err := detect(dir, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.mkdirs = nil // checked by the real builds
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDetectNoRunCommandIsSentinel(t *testing.T) {
	_, err := detect(t.TempDir(), appconfig.Config{})
	if !errors.Is(err, ErrNoRunCommand) {
		t.Errorf("err = %v, want ErrNoRunCommand", err)
	}
}

// writeTree creates files (slash-separated names) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
