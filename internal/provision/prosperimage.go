package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/prosperhq/prosper/internal/image"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/platform"
	"github.com/prosperhq/prosper/internal/provision/sshx"
)

// ProsperImage is how the "prosper image" phase builds the image prosper's
// chart runs on the cluster. The chart's default image is not published, so
// without one the control plane's pod cannot start.
//
// A cluster file's platform.prosperImage names a published image instead,
// which the platform phase applies: then nothing is built.
type ProsperImage struct {
	// Binary is the Linux prosper binary, of the nodes' architecture, that
	// the image is built from; empty means the running one.
	Binary string
	// Base is the image the binary is layered onto, pulled from this
	// machine; empty means image.DefaultProsperBase.
	Base string
	// RegistryTimeout bounds the wait for the platform's registry to answer
	// (it starts with the platform's charts); 0 means 10 minutes.
	RegistryTimeout time.Duration
}

// registryNodeAddr is the platform registry's node port as a node sees it.
var registryNodeAddr = "127.0.0.1:" + strconv.Itoa(platform.RegistryNodePort)

// prosperImageRepo is the repository prosper's image is pushed to.
const prosperImageRepo = "prosper"

func (o *ProsperImage) binary() (string, error) {
	if o.Binary != "" {
		return o.Binary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running prosper binary: %w (pass one)", err)
	}
	return exe, nil
}

// prosperImagePhase builds prosper's image, pushes it to the platform's
// registry on the first server through an SSH port forward and points
// prosper's HelmChart at it by digest; manifest is the name of that
// HelmChart's file among the platform's, which the platform phase leaves to
// this one.
func (e *Engine) prosperImagePhase(first clusterfile.Node, manifest string) Phase {
	o := e.ProsperImage
	return Phase{Name: "prosper image",
		Plan: func(context.Context) ([]string, error) {
			file := "prosper-" + strings.TrimPrefix(manifest, "prosper-")
			bin, err := o.binary()
			if err != nil {
				return nil, err
			}
			return []string{
				"build prosper's image from " + bin + " on " + orDefault(o.Base, image.DefaultProsperBase) + " (pulled here) for the nodes' architecture",
				"wait for the platform's registry, then push the image to it through SSH to " + first.Name + "'s " + registryNodeAddr + ", unless it holds it",
				"apply " + file + " on " + first.Name + ", running " + platform.RegistryMirror + "/" + prosperImageRepo + " by digest",
			}, nil
		},
		Run: func(ctx context.Context, p *Progress) error {
			img, err := e.buildProsperImage(ctx, p, first)
			if err != nil {
				return err
			}
			m, err := platform.ProsperManifest(e.Cluster, img)
			if err != nil {
				return err
			}
			return e.uploadManifest(ctx, p, first, Manifest{Name: m.Name, Data: m.Data})
		}}
}

// buildProsperImage builds prosper's image for the nodes, pushes it to the
// platform's registry unless it holds it, and says how the nodes pull it.
func (e *Engine) buildProsperImage(ctx context.Context, p *Progress, first clusterfile.Node) (platform.ProsperImage, error) {
	o := e.ProsperImage
	c, err := e.client(ctx, first.Name)
	if err != nil {
		return platform.ProsperImage{}, err
	}
	arch, err := nodeArch(ctx, c, first.Name)
	if err != nil {
		return platform.ProsperImage{}, err
	}
	bin, err := o.binary()
	if err != nil {
		return platform.ProsperImage{}, err
	}
	// The binary is checked before anything is pulled or waited for.
	binArch, err := image.BinaryArch(bin)
	if err != nil {
		return platform.ProsperImage{}, fmt.Errorf("prosper's image for the cluster: %w; the nodes are linux/%s: %s", err, arch, image.CrossBuildHint(arch))
	}
	if binArch != arch {
		return platform.ProsperImage{}, fmt.Errorf("prosper's image for the cluster: %s is for linux/%s, the nodes are linux/%s: %w; %s",
			bin, binArch, arch, image.ErrWrongBinary, image.CrossBuildHint(arch))
	}
	baseRef := orDefault(o.Base, image.DefaultProsperBase)
	base, err := image.PullBase(ctx, baseRef, arch)
	if err != nil {
		return platform.ProsperImage{}, err
	}
	img, err := image.ProsperImage(base, bin)
	if err != nil {
		return platform.ProsperImage{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return platform.ProsperImage{}, fmt.Errorf("prosper's image: %w", err)
	}
	p.Node(first.Name, "prosper's image %s (linux/%s, %s on %s)", short(digest.String()), arch, bin, baseRef)

	tr := tunnelTransport(c)
	defer tr.CloseIdleConnections()
	if err := waitRegistry(ctx, p, tr, first.Name, orDefault(o.RegistryTimeout, 10*time.Minute)); err != nil {
		return platform.ProsperImage{}, err
	}
	repo := registryNodeAddr + "/" + prosperImageRepo
	if has, err := registryHas(ctx, tr, repo, digest); err != nil {
		return platform.ProsperImage{}, err
	} else if has {
		p.Node(first.Name, "%s@%s already in the registry", repo, short(digest.String()))
	} else {
		started := time.Now()
		if _, err := image.Push(ctx, img, repo, image.WithTransport(tr)); err != nil {
			return platform.ProsperImage{}, err
		}
		p.Node(first.Name, "pushed %s@%s in %s", repo, short(digest.String()), time.Since(started).Round(100*time.Millisecond))
	}
	return platform.ProsperImage{Repository: platform.RegistryMirror + "/" + prosperImageRepo, Digest: digest.String()}, nil
}

// nodeArch is the image architecture of a node, from uname -m.
func nodeArch(ctx context.Context, c *sshx.Client, node string) (string, error) {
	out, err := c.Output(ctx, "uname -m")
	if err != nil {
		return "", err
	}
	m := strings.TrimSpace(out)
	arch := map[string]string{"x86_64": "amd64", "aarch64": "arm64"}[m]
	if arch == "" {
		return "", fmt.Errorf("%s runs on %q, for which prosper has no image (amd64 or arm64)", node, m)
	}
	return arch, nil
}

// tunnelTransport is an HTTP transport whose connections are port forwards
// through the node's SSH connection: "127.0.0.1:30500" is the node's own.
func tunnelTransport(c *sshx.Client) *http.Transport {
	return &http.Transport{
		DialContext:           c.Dial,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
}

// waitRegistry polls GET /v2/ of the registry's node port until it answers,
// with a progress line every 30 seconds, for at most limit.
func waitRegistry(ctx context.Context, p *Progress, tr http.RoundTripper, node string, limit time.Duration) error {
	started := time.Now()
	deadline := started.Add(limit)
	var lastReport time.Time
	url := "http://" + registryNodeAddr + "/v2/"
	for {
		err := pingRegistry(ctx, tr, url, time.Until(deadline))
		if err == nil {
			if waited := time.Since(started); waited > time.Second {
				p.Node(node, "registry answers after %s", waited.Round(time.Second))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for the platform's registry: %w", ctx.Err())
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("the platform's registry did not answer at %s on %s within %s (last: %s); see its pod: kubectl -n %s get pods,events",
				registryNodeAddr, node, limit, errText(err), platform.Namespace)
		}
		if time.Since(lastReport) >= 30*time.Second {
			p.Node(node, "waiting up to %s for the platform's registry at %s: %s", limit, registryNodeAddr, errText(err))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(2*time.Second, time.Until(deadline))):
		}
	}
}

// pingRegistry is one GET /v2/, bounded to 10 seconds and to left: 200, or
// 401 from a registry that wants a login, is an answer.
func pingRegistry(ctx context.Context, tr http.RoundTripper, url string, left time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, max(min(10*time.Second, left), 100*time.Millisecond))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// registryHas says whether repo holds the manifest digest.
func registryHas(ctx context.Context, tr http.RoundTripper, repo string, digest v1.Hash) (bool, error) {
	ref, err := name.NewDigest(repo+"@"+digest.String(), name.Insecure)
	if err != nil {
		return false, err
	}
	_, err = remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(tr))
	var te *transport.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("look up %s in the registry: %w", ref, err)
}

// uploadManifest puts one manifest in k3s's auto-deploy directory unless the
// file there has the same content, so that an unchanged run touches nothing.
func (e *Engine) uploadManifest(ctx context.Context, p *Progress, first clusterfile.Node, m Manifest) error {
	c, err := e.client(ctx, first.Name)
	if err != nil {
		return err
	}
	file := "prosper-" + strings.TrimPrefix(m.Name, "prosper-")
	dst := ManifestsDir + "/" + file
	sum := sha256.Sum256(m.Data)
	have, _ := c.Output(ctx, "sha256sum "+dst+" 2>/dev/null | cut -d' ' -f1")
	if strings.TrimSpace(have) == hex.EncodeToString(sum[:]) {
		p.Node(first.Name, "%s unchanged", file)
		return nil
	}
	if err := c.Upload(ctx, strings.NewReader(string(m.Data)), dst, 0o600); err != nil {
		return err
	}
	p.Node(first.Name, "%s applied", file)
	return nil
}

// short is a digest's first 12 hex digits, for progress lines.
func short(digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	return hex[:min(12, len(hex))]
}
