package provision

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// DefaultK3sReleases is where k3s publishes its releases.
const DefaultK3sReleases = "https://github.com/k3s-io/k3s/releases/download"

// K3sSource says where the k3s binary that nodes run comes from.
type K3sSource struct {
	// Binary is a k3s binary on this machine to upload to every node, as the
	// air-gapped mode does; its SHA-256 is computed here. Empty means the
	// release of the cluster file's version.
	Binary string
	// Images is an air-gap images archive on this machine to upload.
	Images string
	// Releases is the base URL of releases (DefaultK3sReleases when empty): a
	// mirror for air-gapped sites, or a test's server.
	Releases string
	// CacheDir keeps fetched releases; empty means the user's cache dir.
	CacheDir string
	// Client fetches; nil means http.DefaultClient.
	Client *http.Client
}

// K3sArtifacts is a resolved release for one architecture: what the nodes
// install and how it is checked.
type K3sArtifacts struct {
	Version string
	Arch    string // amd64 or arm64
	SHA256  string // of the binary
	// Binary and Images are local files to upload; empty Binary means nodes
	// download it themselves from URL and check SHA256 before use.
	Binary string
	Images string
	URL    string
}

// assetNames are a release's file names for an architecture.
func assetNames(arch string) (binary, sums, images string) {
	binary = "k3s"
	if arch != "amd64" {
		binary = "k3s-" + arch
	}
	return binary, "sha256sum-" + arch + ".txt", "k3s-airgap-images-" + arch + ".tar.zst"
}

// Resolve finds the pinned version's checksum (from the release's own
// sha256sum file) and, for air-gapped clusters, fetches the binary and the
// images archive into the cache, checking both before anything is uploaded.
// A local Binary skips the release entirely.
func (s K3sSource) Resolve(ctx context.Context, version, arch string, airGapped bool) (K3sArtifacts, error) {
	a := K3sArtifacts{Version: version, Arch: arch, Images: s.Images}
	if s.Binary != "" {
		sum, err := fileSHA256(s.Binary)
		if err != nil {
			return a, fmt.Errorf("k3s binary: %w", err)
		}
		a.Binary, a.SHA256 = s.Binary, sum
		return a, nil
	}
	base := strings.TrimSuffix(s.Releases, "/")
	if base == "" {
		base = DefaultK3sReleases
	}
	rel := base + "/" + url.PathEscape(version) + "/"
	binary, sumsName, imagesName := assetNames(arch)
	sums, err := s.get(ctx, rel+sumsName)
	if err != nil {
		return a, fmt.Errorf("k3s %s checksums: %w", version, err)
	}
	want := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			want[strings.TrimPrefix(f[1], "*")] = f[0]
		}
	}
	a.SHA256, a.URL = want[binary], rel+binary
	if a.SHA256 == "" {
		return a, fmt.Errorf("k3s %s: %s lists no checksum for %s", version, rel+sumsName, binary)
	}
	if !airGapped {
		return a, nil
	}
	dir := s.CacheDir
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return a, err
		}
		dir = filepath.Join(c, "prosper", "k3s")
	}
	dir = filepath.Join(dir, version, arch)
	if a.Binary, err = s.fetch(ctx, rel+binary, filepath.Join(dir, binary), a.SHA256); err != nil {
		return a, err
	}
	if a.Images == "" {
		if a.Images, err = s.fetch(ctx, rel+imagesName, filepath.Join(dir, imagesName), want[imagesName]); err != nil {
			return a, err
		}
	}
	return a, nil
}

func (s K3sSource) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return http.DefaultClient
}

func (s K3sSource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// fetch downloads u to path unless path already holds the file with the
// wanted checksum, and checks what it downloaded before keeping it.
func (s K3sSource) fetch(ctx context.Context, u, path, wantSHA string) (string, error) {
	if wantSHA == "" {
		return "", fmt.Errorf("no checksum published for %s: refusing to use it unchecked", u)
	}
	if got, err := fileSHA256(path); err == nil && got == wantSHA {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: %s", u, resp.Status)
	}
	tmp := path + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("download %s: %w", u, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		os.Remove(tmp)
		return "", fmt.Errorf("download %s: checksum %s, the release says %s; not used", u, got, wantSHA)
	}
	return path, os.Rename(tmp, path)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
