package node

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/runtime"
)

// kubePort is the port every app listens on in its pod: pods have addresses of
// their own, so one fixed port serves them all, and the router and Services
// know it without asking.
const kubePort = image.DefaultPort

// shellSyntax is what a command needs a shell for. Images have no shell, so
// such a command is refused with a way out rather than run wrongly.
var shellSyntax = regexp.MustCompile("[|&;<>()`'\"\\\\*?~]")

// envRef is a $VAR or ${VAR} in a command, which Kubernetes expands as $(VAR).
var envRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// containerCommand turns a release's run command into the command of its
// container. A release built on a language base (image.BaseFile) runs it with
// the base's shell. Otherwise the image is the minimal one of a static binary,
// without a shell: a line such as "exec .prosper/bin/app --port $PORT" becomes
// an argument list, "exec" dropped, $VAR written as Kubernetes's $(VAR); the
// program must be in the release (the image holds nothing else) and be
// statically linked.
func containerCommand(spec runtime.Spec) ([]string, error) {
	if _, ok, err := image.ReadBase(spec.Artifact); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID, err)
	} else if ok {
		return shellCommand(spec)
	}
	line := strings.TrimSpace(spec.Command)
	if shellSyntax.MatchString(line) {
		return nil, fmt.Errorf("%s: the run command %q needs a shell, and the minimal image of a static binary has none: "+
			"write it as a program and its arguments (run: in prosper.yaml or the Procfile's web: line), "+
			"or set image: in prosper.yaml to a base image that has /bin/sh", spec.ID, spec.Command)
	}
	args := strings.Fields(line)
	if len(args) > 0 && args[0] == "exec" {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%s has no command to run", spec.ID)
	}
	for i, a := range args {
		args[i] = envRef.ReplaceAllString(a, "$$($1)")
	}
	prog := args[0]
	local := filepath.Join(spec.Artifact, prog)
	switch {
	case strings.HasPrefix(prog, image.AppDir+"/"):
		local = filepath.Join(spec.Artifact, strings.TrimPrefix(prog, image.AppDir+"/"))
	case !strings.Contains(prog, "/") && fileExists(filepath.Join(spec.Artifact, "bin", prog)):
		local = filepath.Join(spec.Artifact, "bin", prog) // on the image's PATH
	case filepath.IsAbs(prog) || !strings.Contains(prog, "/"):
		return nil, fmt.Errorf("%s runs %s, which its image does not have: on Kubernetes a release's image holds the release "+
			"and nothing else, so prosper runs programs the build puts in the release, such as a Go app's static binary; "+
			"Node and Python apps run on their language's base image, and others on the base image set by image: in prosper.yaml", spec.ID, prog)
	}
	if err := checkStatic(local); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.ID, err)
	}
	return args, nil
}

// checkStatic refuses a dynamically linked ELF program: the image has no C
// library. Scripts and other files are left to the kernel to judge.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the program %s is not in the release", path)
		}
		return nil // not ELF
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the program %s is dynamically linked and the image has no C library: build it with CGO_ENABLED=0 "+
				"(prosper up --kubernetes does so for Go apps it builds)", filepath.Base(path))
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// releaseImage builds the image of a release, on its recorded base if it has
// one, and pushes it to the registry; it returns the reference the cluster's
// nodes pull, by digest. The same release gives the same digest, so a restart
// pushes nothing new.
func (k *kubeBackend) releaseImage(ctx context.Context, spec runtime.Spec, cmd []string) (string, error) {
	rec, onBase, err := image.ReadBase(spec.Artifact)
	if err != nil {
		return "", fmt.Errorf("%s: %w", spec.ID, err)
	}
	var img v1.Image
	if onBase {
		img, err = k.releaseOnBase(ctx, spec, rec)
	} else {
		img, err = image.FromRelease(spec.Artifact, cmd, nil, image.Options{Port: kubePort})
	}
	if err != nil {
		return "", err
	}
	repo := "prosper/" + dnsLabel(spec.App)
	var opts []image.PushOption
	if k.cfg.Insecure {
		opts = append(opts, image.Insecure())
	}
	digest, err := image.Push(ctx, img, k.cfg.Registry+"/"+repo+":v"+fmt.Sprint(spec.Release), opts...)
	if err != nil {
		return "", fmt.Errorf("%s: push its image: %w", spec.ID, err)
	}
	pull := k.cfg.PullRegistry
	if pull == "" {
		pull = k.cfg.Registry
	}
	return pull + "/" + repo + "@" + digest, nil
}
