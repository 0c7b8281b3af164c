package kubetest

import (
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// NodeRegistry is an OCI registry that the node's pods and the host reach,
// as a cluster's own registry is: the control plane running in a pod pushes
// to it, and the node's containerd pulls from it.
type NodeRegistry struct {
	// Addr is the registry at the node's address (HOST:PORT), for the host and
	// the pods. It speaks plain HTTP to an address no client takes for a
	// local one: push to it with the insecure option (registryInsecure).
	Addr string
	// Pull is the same registry on loopback, the name to pull images by
	// (pullRegistry): the node's containerd pulls from loopback over plain
	// HTTP, from any other address over HTTPS only.
	Pull string
}

// Registry serves an in-memory OCI registry on the node's address and on
// loopback, at the same port, for the test's life.
func (n *Node) Registry(t testing.TB) NodeRegistry {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var lnLoop, lnNode net.Listener
	var err error
	// The port free on loopback is almost always free on the node's address;
	// a few tries cover the rare other case.
	for range 5 {
		lnLoop, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("kubetest: registry: %v", err)
		}
		port := lnLoop.Addr().(*net.TCPAddr).Port
		lnNode, err = net.Listen("tcp", net.JoinHostPort(n.IP, strconv.Itoa(port)))
		if err == nil {
			break
		}
		lnLoop.Close()
	}
	if err != nil {
		t.Fatalf("kubetest: registry on the node's address: %v", err)
	}
	for _, ln := range []net.Listener{lnLoop, lnNode} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return NodeRegistry{Addr: lnNode.Addr().String(), Pull: lnLoop.Addr().String()}
}
