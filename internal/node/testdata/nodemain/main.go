// Command nodemain runs a prosper node for the node package's tests, as
// `prosper node` does.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prosperhq/prosper/internal/node"
)

func main() {
	dataDir := flag.String("data-dir", "", "data directory")
	httpAddr := flag.String("http", "127.0.0.1:0", "router address")
	stopTimeout := flag.Duration("stop-timeout", 2*time.Second, "app stop timeout")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := node.Run(ctx, node.Config{DataDir: *dataDir, HTTPAddr: *httpAddr, Logger: logger, StopTimeout: *stopTimeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
