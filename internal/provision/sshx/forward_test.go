package sshx

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// TestDialForwardsToTheHostsLoopback serves HTTP on a port of the host's own
// loopback, which the test's network namespace cannot reach, and gets it
// through an http.Transport that dials through the SSH connection.
func TestDialForwardsToTheHostsLoopback(t *testing.T) {
	h, cfg := newHost(t, testhost.Options{})
	c := dial(t, cfg)
	l := h.Listen("127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "on the host, from "+r.RemoteAddr)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(string(body), "on the host") {
			t.Fatal("the host's loopback port is reachable without the tunnel: the test proves nothing")
		}
	}

	tr := &http.Transport{DialContext: c.Dial}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET through the tunnel: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// sshd connects from the host's loopback.
	if !strings.HasPrefix(string(body), "on the host, from 127.0.0.1:") {
		t.Errorf("body %q", body)
	}

	ctx := context.Background()
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name, network, addr, want string
	}{
		{"nothing listening", "tcp", "127.0.0.1:1", "connect failed"},
		{"not tcp", "udp", "127.0.0.1:" + port, "only tcp is forwarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := c.Dial(ctx, tt.network, tt.addr)
			if err == nil {
				conn.Close()
				t.Fatalf("dial %s %s succeeded", tt.network, tt.addr)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), c.Addr()) {
				t.Errorf("error %q, want %q and the host's address", err, tt.want)
			}
		})
	}
}
