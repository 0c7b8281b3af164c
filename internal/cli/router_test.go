package cli

import (
	"testing"
)

func TestRouterNeedsNATSAndToken(t *testing.T) {
	isolate(t)
	t.Setenv("PROSPER_NATS", "")
	t.Setenv("PROSPER_NATS_TOKEN", "")
	fails(t, []string{"--nats nats://HOST:4222"}, "router", "--http", "127.0.0.1:0", "--health", "127.0.0.1:0")
	fails(t, []string{"PROSPER_NATS_TOKEN is not set", "DATA_DIR/nats-token"},
		"router", "--nats", "nats://127.0.0.1:4222", "--http", "127.0.0.1:0", "--health", "127.0.0.1:0")
}

func TestRouterStatusWithoutNode(t *testing.T) {
	home := isolate(t)
	fails(t, []string{"the prosper node is not running"}, "router", "status", "--data-dir", home)
}
