package sshx

import (
	"context"
	"fmt"
	"net"
)

// Dial opens a TCP connection to addr as the host sees it, through the SSH
// connection (a port forward, as ssh -L makes): "127.0.0.1:30500" is the
// host's own loopback, which nothing outside it reaches. Its signature is
// net.Dialer.DialContext's, so an http.Transport can dial through the host.
// The connection supports no deadlines; bound it with ctx or the transport's
// timeouts.
func (c *Client) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dial %s %s through %s: only tcp is forwarded", network, addr, c.addr)
	}
	conn, err := c.conn.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s through %s: %w", addr, c.addr, err)
	}
	return conn, nil
}
