package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// release serves a k3s release made by the test, as GitHub lays it out:
// BASE/VERSION/{k3s, sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst}.
func release(t *testing.T, files map[string]string, sums map[string]string) (string, *atomic.Int64) {
	t.Helper()
	var downloads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/v1.31.4+k3s1/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(name, "sha256sum-") {
			for f, s := range sums {
				fmt.Fprintf(w, "%s  %s\n", s, f)
			}
			return
		}
		body, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		downloads.Add(1)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &downloads
}

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestK3sResolve(t *testing.T) {
	ctx := context.Background()
	bin, images := "#!/bin/sh\necho k3s\n", "images-archive"
	files := map[string]string{"k3s": bin, "k3s-airgap-images-amd64.tar.zst": images}
	sums := map[string]string{"k3s": sum(bin), "k3s-airgap-images-amd64.tar.zst": sum(images), "k3s-arm64": sum("other")}

	t.Run("online: the checksum only, nodes download", func(t *testing.T) {
		base, downloads := release(t, files, sums)
		a, err := K3sSource{Releases: base, CacheDir: t.TempDir()}.Resolve(ctx, "v1.31.4+k3s1", "amd64", false)
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != sum(bin) || a.Binary != "" || a.URL != base+"/v1.31.4+k3s1/k3s" || downloads.Load() != 0 {
			t.Fatalf("%+v, %d downloads", a, downloads.Load())
		}
	})
	t.Run("air-gapped: binary and images fetched, checked and cached", func(t *testing.T) {
		base, downloads := release(t, files, sums)
		src := K3sSource{Releases: base, CacheDir: t.TempDir()}
		for range 2 {
			a, err := src.Resolve(ctx, "v1.31.4+k3s1", "amd64", true)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(a.Binary); string(got) != bin {
				t.Fatalf("binary %q", got)
			}
			if got, _ := os.ReadFile(a.Images); string(got) != images {
				t.Fatalf("images %q", got)
			}
		}
		if n := downloads.Load(); n != 2 {
			t.Fatalf("%d downloads for two resolves, want 2 (the second from the cache)", n)
		}
	})
	t.Run("a tampered binary is refused and not kept", func(t *testing.T) {
		base, _ := release(t, map[string]string{"k3s": "evil", "k3s-airgap-images-amd64.tar.zst": images}, sums)
		dir := t.TempDir()
		_, err := K3sSource{Releases: base, CacheDir: dir}.Resolve(ctx, "v1.31.4+k3s1", "amd64", true)
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("err %v, want a checksum error", err)
		}
		if _, err := os.Stat(dir + "/v1.31.4+k3s1/amd64/k3s"); err == nil {
			t.Fatal("the tampered binary was kept")
		}
	})
	t.Run("no checksum for the architecture", func(t *testing.T) {
		base, _ := release(t, files, map[string]string{"k3s": sum(bin)})
		_, err := K3sSource{Releases: base}.Resolve(ctx, "v1.31.4+k3s1", "arm64", false)
		if err == nil || !strings.Contains(err.Error(), "no checksum for k3s-arm64") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("an unknown version says which URL failed", func(t *testing.T) {
		base, _ := release(t, files, sums)
		_, err := K3sSource{Releases: base}.Resolve(ctx, "v1.99.0+k3s1", "amd64", false)
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "v1.99.0") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a local binary skips the release", func(t *testing.T) {
		path := t.TempDir() + "/k3s"
		os.WriteFile(path, []byte(bin), 0o755)
		a, err := K3sSource{Binary: path, Releases: "http://127.0.0.1:1"}.Resolve(ctx, "v1.31.4+k3s1", "amd64", true)
		if err != nil || a.SHA256 != sum(bin) || a.Binary != path {
			t.Fatalf("%+v %v", a, err)
		}
	})
}
