package kubebuild

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/prosperhq/prosper/internal/build"
	"github.com/prosperhq/prosper/internal/kubetest"
)

func TestChooseBase(t *testing.T) {
	mirror := map[string]string{build.KindNode: "mirror.example.com/node:22"}
	tests := []struct {
		name     string
		b        build.RemoteBuild
		bases    map[string]string
		wantKind string
		wantRef  string
		wantErr  error
	}{
		{"node default", build.RemoteBuild{Kind: build.KindNode, Steps: []string{"npm ci"}}, nil, "node", DefaultBases["node"], nil},
		{"node overridden", build.RemoteBuild{Kind: build.KindNode, Steps: []string{"npm ci"}}, mirror, "node", "mirror.example.com/node:22", nil},
		{"python default", build.RemoteBuild{Kind: build.KindPython, Steps: []string{"pip"}}, mirror, "python", DefaultBases["python"], nil},
		{"image: wins", build.RemoteBuild{Kind: build.KindNode, Image: "example.com/own:1"}, mirror, "node", "example.com/own:1", nil},
		{"procfile python", build.RemoteBuild{Kind: build.KindProcfile, Run: "python3 app.py"}, nil, "python", DefaultBases["python"], nil},
		{"procfile exec gunicorn", build.RemoteBuild{Kind: build.KindProcfile, Run: "exec gunicorn app:app"}, nil, "python", DefaultBases["python"], nil},
		{"procfile node with env", build.RemoteBuild{Kind: build.KindProcfile, Run: "NODE_ENV=production /usr/bin/node server.js"}, mirror, "node", "mirror.example.com/node:22", nil},
		{"procfile static binary", build.RemoteBuild{Kind: build.KindProcfile, Run: "bin/server --port $PORT"}, nil, "procfile", "", nil},
		{"go", build.RemoteBuild{Kind: build.KindGo, Run: ".prosper/bin/app"}, nil, "go", "", nil},
		{"go with image:", build.RemoteBuild{Kind: build.KindGo, Image: "example.com/tools:1"}, nil, "go", "example.com/tools:1", nil},
		{"custom run only", build.RemoteBuild{Kind: build.KindCustom, Run: "bin/app"}, nil, "custom", "", nil},
		{"custom build without image:", build.RemoteBuild{Kind: build.KindCustom, Steps: []string{"make"}, Run: "bin/app"}, nil, "", "", ErrNoImage},
		{"custom build with image:", build.RemoteBuild{Kind: build.KindCustom, Steps: []string{"make"}, Image: "example.com/gcc:13"}, nil, "custom", "example.com/gcc:13", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, ref, err := chooseBase(tt.b, tt.bases)
			if kind != tt.wantKind || ref != tt.wantRef || !errors.Is(err, tt.wantErr) {
				t.Errorf("chooseBase = %q, %q, %v; want %q, %q, %v", kind, ref, err, tt.wantKind, tt.wantRef, tt.wantErr)
			}
		})
	}
	if !strings.Contains(ErrNoImage.Error(), "set image: in prosper.yaml") {
		t.Errorf("the refusal does not say what to do: %v", ErrNoImage)
	}
}

func TestParseBases(t *testing.T) {
	got, err := ParseBases([]string{"node=mirror.example.com/node:22", " python = mirror.example.com/python@sha256:" + strings.Repeat("a", 64), ""})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"node": "mirror.example.com/node:22", "python": "mirror.example.com/python@sha256:" + strings.Repeat("a", 64)}
	if !maps.Equal(got, want) {
		t.Errorf("ParseBases = %v; want %v", got, want)
	}
	for _, bad := range []string{"node", "ruby=ruby:3", "=node:22", "node=Node:22", "node=https://x/y"} {
		if _, err := ParseBases([]string{bad}); err == nil || !strings.Contains(err.Error(), "--image-base") {
			t.Errorf("ParseBases(%q) = %v; want an error naming the flag", bad, err)
		}
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"node:22-bookworm-slim":                   "node",
		"docker.io/library/node:22":               "docker.io/library/node",
		"127.0.0.1:5000/base/node":                "127.0.0.1:5000/base/node",
		"127.0.0.1:5000/base/node:22":             "127.0.0.1:5000/base/node",
		"127.0.0.1:5000/base/node:22@sha256:abcd": "127.0.0.1:5000/base/node",
	} {
		if got := repository(in); got != want {
			t.Errorf("repository(%q) = %q; want %q", in, got, want)
		}
	}
}

// A base is pinned to what its tag names when the build starts, spelled as
// the user wrote it; a digest that the registry does not serve is refused.
func TestResolvePinsTheDigest(t *testing.T) {
	reg := kubetest.Registry(t)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg + "/base/node:22"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	plain := func(string) bool { return false }
	got, err := resolve(context.Background(), ref, plain)
	if want := reg + "/base/node@" + digest.String(); err != nil || got != want {
		t.Fatalf("resolve(%s) = %q, %v; want %s", ref, got, err, want)
	}
	if again, err := resolve(context.Background(), got, plain); err != nil || again != got {
		t.Errorf("resolve of the pinned reference = %q, %v; want it unchanged", again, err)
	}
	if _, err := resolve(context.Background(), reg+"/base/node:23", plain); err == nil || !strings.Contains(err.Error(), "--image-base") {
		t.Errorf("resolve of a missing tag = %v; want an error saying how to choose another base", err)
	}
}
