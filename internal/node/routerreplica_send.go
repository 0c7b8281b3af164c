package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/prosperhq/prosper/internal/router"
)

// reportLoop sends a report every second, and at once after a new table.
func (r *routerReplica) reportLoop(ctx context.Context) {
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.nudge:
		}
		r.queueReport(false)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r.flushReports(pctx)
		cancel()
	}
}

// queueReport makes the next report and queues it behind those not sent yet.
func (r *routerReplica) queueReport(goodbye bool) {
	rep := r.reporter.Next(goodbye, r.rev.Load(), time.Now())
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	r.pending = append(r.pending, rep)
	if over := len(r.pending) - replicaPendingReports; over > 0 {
		r.pending = append(r.pending[:0], r.pending[over:]...)
	}
}

// flushReports sends the queued reports in order, and reports whether all
// went. A report whose acknowledgement was lost may be sent twice: the
// message ID and the control plane's sequence check drop the copy.
func (r *routerReplica) flushReports(ctx context.Context) bool {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	subject := reportSubject + subjectToken(r.cfg.Name)
	for len(r.pending) > 0 {
		rep := r.pending[0]
		data, err := json.Marshal(rep)
		if err != nil {
			r.logger.Error("encode report", "err", err)
			r.pending = r.pending[1:]
			continue
		}
		id := fmt.Sprintf("%s-%d", rep.Boot, rep.Seq)
		if _, err := r.js.Publish(ctx, subject, data, jetstream.WithMsgID(id)); err != nil {
			return false
		}
		r.pending = r.pending[1:]
	}
	return true
}

// offerExchange is the router's mirror sink: it must not block.
func (r *routerReplica) offerExchange(ex router.Exchange) {
	select {
	case r.exq <- ex:
	default:
		r.reporter.Lost(ex.App)
	}
}

// sendExchanges sends the mirrored exchanges in the order the router gave
// them until ctx ends.
func (r *routerReplica) sendExchanges(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ex := <-r.exq:
			r.sendExchange(ctx, ex)
		}
	}
}

func (r *routerReplica) sendExchange(ctx context.Context, ex router.Exchange) {
	if !r.nc.IsConnected() {
		r.reporter.Lost(ex.App)
		return
	}
	data, err := json.Marshal(r.reporter.Exchange(ex))
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = r.js.Publish(pctx, mirrorSubject+subjectToken(r.cfg.Name), data)
		cancel()
	}
	if err != nil {
		// Its sequence number is used: the control plane sees the hole too.
		r.reporter.Lost(ex.App)
		r.logger.Debug("send mirrored exchange", "app", ex.App, "err", err)
	}
}

// flushExchanges sends what is queued, for up to two seconds, then stops the
// sender.
func (r *routerReplica) flushExchanges(done <-chan struct{}, stop context.CancelFunc) {
	deadline := time.Now().Add(2 * time.Second)
	for len(r.exq) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	for {
		select {
		case ex := <-r.exq:
			r.reporter.Lost(ex.App)
		default:
			return
		}
	}
}
