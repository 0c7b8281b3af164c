package build

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prosperhq/prosper/internal/appconfig"
)

// ErrNoRunCommand means prosper found nothing that says how to start the app.
var ErrNoRunCommand = errors.New("cannot tell how to run this app: add a Procfile with a web: line, or run: in prosper.yaml")

// goBuild is the default Go build command, before its -o and package.
const goBuild = `go build -buildvcs=false -ldflags="-s -w"`

// goBinary is where the default Go build puts the app, relative to the tree.
const goBinary = ".prosper/bin/app"

// pythonTarget is where Python dependencies are installed, relative to the tree.
const pythonTarget = ".prosper/python"

// plan is what detect decided: the commands to run and how to start the result.
type plan struct {
	kind   string
	steps  []string // shell commands run in order in the tree
	mkdirs []string // directories the steps expect to exist
	run    string
	env    map[string]string
}

// detect decides how to build and run the tree in dir. prosper.yaml's build: and
// run: come first; then the first of go.mod, package.json and requirements.txt
// gives the build; the Procfile's web: line, or what the build produced, gives
// the run command.
func detect(dir string, cfg appconfig.Config) (plan, error) {
	var p plan
	defaultRun := ""
	switch {
	case cfg.Build != "":
		p.kind, p.steps = KindCustom, []string{cfg.Build}
	case exists(dir, "go.mod"):
		pkg, err := goMainPackage(dir)
		if err != nil {
			return plan{}, err
		}
		// -buildvcs=false: the tree is an export without .git, and stamping must
		// not pick up a repository that happens to contain the data directory.
		// -s -w: without symbol table and DWARF the link, which is most of a warm
		// rebuild, takes a quarter less; panics and profiles keep their symbols.
		p.kind = KindGo
		p.steps = []string{goBuild + " -o " + goBinary + " " + pkg}
		p.mkdirs = []string{filepath.Join(dir, filepath.Dir(goBinary))}
		defaultRun = goBinary
	case exists(dir, "package.json"):
		scripts, err := npmScripts(dir)
		if err != nil {
			return plan{}, err
		}
		install := "npm install --no-audit --no-fund"
		if exists(dir, "package-lock.json") || exists(dir, "npm-shrinkwrap.json") {
			install = "npm ci --no-audit --no-fund"
		}
		p.kind, p.steps = KindNode, []string{install}
		if scripts["build"] {
			p.steps = append(p.steps, "npm run build")
		}
		if scripts["start"] {
			defaultRun = "npm start"
		}
	case exists(dir, "requirements.txt"):
		p.kind = KindPython
		p.steps = []string{"python3 -m pip install -r requirements.txt --target " + pythonTarget}
		// Relative on purpose: the release directory may move (an image, a copy),
		// and Python makes sys.path entries absolute at startup.
		p.env = map[string]string{"PYTHONPATH": pythonTarget}
	}

	web, procTypes, err := procfileWeb(dir)
	if err != nil {
		return plan{}, err
	}
	switch {
	case cfg.Run != "":
		p.run = cfg.Run
	case web != "":
		p.run = web
	case defaultRun != "":
		p.run = defaultRun
	case len(procTypes) > 0:
		return plan{}, fmt.Errorf("the Procfile has no web: line (it has %s); add one such as \"web: bin/server\", or set run: in prosper.yaml", strings.Join(procTypes, ", "))
	default:
		return plan{}, ErrNoRunCommand
	}
	if p.kind == "" {
		p.kind = KindProcfile
		if cfg.Run != "" {
			p.kind = KindCustom
		}
	}
	return p, nil
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// procfileLine is the Heroku format: a process type, a colon, a command.
var procfileLine = regexp.MustCompile(`^([A-Za-z0-9_-]+):\s*(.+)$`)

// procfileWeb returns the command of the Procfile's web process, and the process
// types it has, for messages. A missing Procfile is not an error.
func procfileWeb(dir string) (web string, types []string, err error) {
	f, err := os.Open(filepath.Join(dir, "Procfile"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read Procfile: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := procfileLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		types = append(types, m[1])
		if m[1] == "web" && web == "" {
			web = strings.TrimSpace(m[2])
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, fmt.Errorf("read Procfile: %w", err)
	}
	return web, types, nil
}

// npmScripts returns which scripts package.json defines.
func npmScripts(dir string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("read package.json: %w", err)
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return nil, fmt.Errorf("read package.json: %w", err)
	}
	scripts := map[string]bool{}
	for name, cmd := range pkg.Scripts {
		scripts[name] = strings.TrimSpace(cmd) != ""
	}
	return scripts, nil
}
