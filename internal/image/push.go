package image

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOption tunes Push.
type PushOption func(*pushOptions)

type pushOptions struct {
	insecure  bool
	auth      authn.Authenticator
	transport http.RoundTripper
}

// Insecure lets Push talk plain HTTP to the registry, as to a registry inside
// the cluster that has no certificate. A loopback or private-network host
// (127.0.0.1, localhost, 10.0.0.0/8, ...) is allowed plain HTTP without it.
func Insecure() PushOption {
	return func(o *pushOptions) { o.insecure = true }
}

// WithAuth gives the registry's credentials; without it Push is anonymous.
func WithAuth(a authn.Authenticator) PushOption {
	return func(o *pushOptions) { o.auth = a }
}

// WithTransport sets the HTTP transport, such as one trusting the cluster's CA
// or dialing through a port-forward; nil keeps the default.
func WithTransport(t http.RoundTripper) PushOption {
	return func(o *pushOptions) { o.transport = t }
}

// Push uploads img to the registry as ref ("host[:port]/repository[:tag]",
// "latest" when no tag) and returns its digest ("sha256:..."). Deploy by
// "host/repository@digest", which names this content whatever the tag points
// to later. Layers the registry already holds are not uploaded again.
func Push(ctx context.Context, img v1.Image, ref string, opts ...PushOption) (string, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	var nameOpts []name.Option
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if isLoopback(r.Context().RegistryStr()) {
		// go-containerregistry allows plain HTTP to 127.0.0.0/8 and localhost by
		// name; this also covers ::1 and other spellings of the loopback.
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return "", fmt.Errorf("push %s: %w", ref, err)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push %s: digest: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != digest.String() {
		return "", fmt.Errorf("push %s: the image's digest is %s", ref, digest)
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx)}
	if o.auth != nil {
		remoteOpts = append(remoteOpts, remote.WithAuth(o.auth))
	}
	if o.transport != nil {
		remoteOpts = append(remoteOpts, remote.WithTransport(o.transport))
	}
	if err := remote.Write(r, img, remoteOpts...); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return digest.String(), nil
}

// isLoopback reports whether a registry host[:port] is a loopback address or
// localhost.
func isLoopback(registry string) bool {
	host, _, err := net.SplitHostPort(registry)
	if err != nil {
		host = registry
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
