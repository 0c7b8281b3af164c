package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/prosperhq/prosper/internal/router"
)

// The JetStream names the node and its router replicas share.
const (
	reportStream   = "PROSPER_REPORTS"
	reportSubject  = "prosper.report." // + replica token
	mirrorStream   = "PROSPER_MIRROR"
	mirrorSubject  = "prosper.mirror." // + replica token
	routesBucket   = "prosper-routes"
	tableKey       = "table"
	nodeConsumer   = "node"
	publishTimeout = 5 * time.Second
)

// subjectToken turns a replica's name into one NATS subject token.
func subjectToken(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, name)
}

// bus is the node's side of the router replicas: the embedded NATS server,
// the durable consumers of their reports and mirrored exchanges, and the
// publication of the resolved routing table in a KV bucket.
type bus struct {
	logger *slog.Logger
	srv    *natsserver.Server
	nc     *nats.Conn
	kv     jetstream.KeyValue
	fleet  *router.Fleet
	addr   string // where replicas connect, host:port

	mu    sync.Mutex
	table *router.Table // the latest table to publish, nil once published
	gen   uint64
	kick  chan struct{}

	consumers []jetstream.ConsumeContext
	cancel    context.CancelFunc
	done      sync.WaitGroup
}

// startBus starts the NATS server and the node's consumers. publish is where
// the replicas' mirrored exchanges go (the node's mirror hub).
func startBus(dataDir, addr string, fleet *router.Fleet, publish func(router.Exchange), logger *slog.Logger) (*bus, error) {
	token, err := natsToken(dataDir)
	if err != nil {
		return nil, err
	}
	srv, err := startNATS(dataDir, addr, token, logger)
	if err != nil {
		return nil, err
	}
	b := &bus{logger: logger, srv: srv, fleet: fleet, addr: srv.Addr().String(), kick: make(chan struct{}, 1)}
	if err := b.setUp(token, publish); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bus) setUp(token string, publish func(router.Exchange)) error {
	nc, err := nats.Connect("", nats.InProcessServer(b.srv), nats.Token(token), nats.Name("prosper-node"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS: %w", err)
	}
	b.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Reports are kept long enough for a node restart to read those sent
	// while it was down; exchanges a little less, and bounded in size.
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: reportStream, Subjects: []string{reportSubject + ">"}, Storage: jetstream.FileStorage,
		MaxAge: 10 * time.Minute, Duplicates: 2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", reportStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: mirrorStream, Subjects: []string{mirrorSubject + ">"}, Storage: jetstream.FileStorage,
		MaxAge: 2 * time.Minute, MaxBytes: 256 << 20, MaxMsgSize: natsMaxPayload, Discard: jetstream.DiscardOld,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", mirrorStream, err)
	}
	b.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: routesBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", routesBucket, err)
	}
	for _, c := range []struct {
		stream string
		handle func(jetstream.Msg)
	}{
		{reportStream, b.onReport},
		{mirrorStream, func(m jetstream.Msg) { b.onExchange(m, publish) }},
	} {
		cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
			Durable: nodeConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10000,
		})
		if err != nil {
			return fmt.Errorf("create consumer of %s: %w", c.stream, err)
		}
		cc, err := cons.Consume(c.handle)
		if err != nil {
			return fmt.Errorf("consume %s: %w", c.stream, err)
		}
		b.consumers = append(b.consumers, cc)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	b.cancel = cancelRun
	b.done.Go(func() { b.publishTables(runCtx) })
	return nil
}

func (b *bus) onReport(m jetstream.Msg) {
	var rep router.Report
	if err := json.Unmarshal(m.Data(), &rep); err != nil {
		b.logger.Warn("unreadable router report", "subject", m.Subject(), "err", err)
	} else if err := b.fleet.Apply(rep); err != nil {
		b.logger.Warn("router report", "replica", rep.Replica, "err", err)
	}
	_ = m.Ack()
}

func (b *bus) onExchange(m jetstream.Msg, publish func(router.Exchange)) {
	var e router.ReplicaExchange
	if err := json.Unmarshal(m.Data(), &e); err != nil {
		b.logger.Warn("unreadable mirrored exchange", "subject", m.Subject(), "err", err)
	} else if b.fleet.ApplyExchange(e) {
		publish(e.Exchange)
	}
	_ = m.Ack()
}

// setTable queues the resolved table for the replicas. Until it is stored,
// the fleet counts every replica as behind (see router.Fleet.InFlight).
func (b *bus) setTable(t router.Table) {
	b.mu.Lock()
	b.table = &t
	b.gen++
	b.fleet.TableChanging() // under mu: ordered with the SetTableRevision of publishTables
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// publishTables stores the latest table in the KV bucket, retrying until it
// is stored; tables set meanwhile replace it.
func (b *bus) publishTables(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		case <-retry.C:
		}
		b.mu.Lock()
		t, gen := b.table, b.gen
		b.mu.Unlock()
		if t == nil {
			continue
		}
		data, err := json.Marshal(t)
		if err != nil {
			b.logger.Error("encode routing table for the replicas", "err", err)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		rev, err := b.kv.Put(pctx, tableKey, data)
		cancel()
		if err != nil {
			b.logger.Warn("publish routing table to the replicas; retrying", "err", err)
			retry.Reset(time.Second)
			continue
		}
		b.mu.Lock()
		if b.gen == gen {
			b.table = nil
			b.fleet.SetTableRevision(rev)
		}
		b.mu.Unlock()
	}
}

// close stops the consumers and the NATS server; replicas keep serving their
// last table and reconnect when the node is back.
func (b *bus) close() {
	if b.cancel != nil {
		b.cancel()
	}
	b.done.Wait()
	for _, c := range b.consumers {
		c.Stop()
	}
	if b.nc != nil {
		b.nc.Close()
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
