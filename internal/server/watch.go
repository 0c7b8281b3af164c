package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prosperhq/prosper/internal/node"
)

// watchNode brings the data plane back when it dies under a running control
// plane (a crash, an OOM kill, someone's kill -9): it spawns a new node and
// resumes every live release on it. Live traffic is down from the node's death
// until the apps are healthy again, a few seconds for most apps.
func (s *Server) watchNode(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := s.node.Info(ctx)
		if err == nil || !errors.Is(err, node.ErrNotRunning) || ctx.Err() != nil {
			continue
		}
		s.log.Warn("the node is gone: starting a new one and resuming the apps", "err", err)
		// The same address as before, even when the configured one had port 0,
		// so app URLs stay true. The client talks to the socket, which the new
		// node serves at the same path.
		if _, _, err := s.spawnNode(ctx, strings.TrimPrefix(s.routerURL, "http://")); err != nil {
			s.log.Error("restart the node", "err", err)
			continue
		}
		s.appendEvent(ctx, "node.restarted", "", nil)
		if err := s.rollout.Recover(ctx); err != nil {
			s.log.Error("resume apps on the new node", "err", err)
		}
	}
}
