package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Files and names of the event bus the router replicas report on.
const (
	natsDirName   = "nats"       // JetStream's store, in the data directory
	natsTokenName = "nats-token" // the generated token, 0600

	// TokenEnv is the environment variable that holds the NATS token of the
	// node (prosper up --nats) and of its router replicas (prosper router).
	TokenEnv = "PROSPER_NATS_TOKEN"

	// natsMaxPayload bounds one message: a mirrored exchange holds up to three
	// bodies of the mirror's body limit (1 MiB by default).
	natsMaxPayload = 8 << 20
)

// natsToken returns the token replicas must present: $PROSPER_NATS_TOKEN if
// set, else the one kept in DATA_DIR/nats-token, made on first use.
func natsToken(dataDir string) (string, error) {
	if t := os.Getenv(TokenEnv); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, natsTokenName)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read NATS token: %w", err)
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save NATS token: %w", err)
	}
	return tok, nil
}

// startNATS runs the embedded NATS server with JetStream on addr (host:port;
// port 0 picks a free one), storing in DATA_DIR/nats.
func startNATS(dataDir, addr, token string, logger *slog.Logger) (*natsserver.Server, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--nats %q is not an address: use HOST:PORT, e.g. 0.0.0.0:4222", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("--nats %q: port must be a number from 0 to 65535", addr)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT // NATS reads 0 as its default port, 4222
	}
	opts := &natsserver.Options{
		ServerName:    "prosper-node",
		Host:          host,
		Port:          port,
		Authorization: token,
		JetStream:     true,
		StoreDir:      filepath.Join(dataDir, natsDirName),
		MaxPayload:    natsMaxPayload,
		NoSigs:        true, // the node handles its signals
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	s.SetLoggerV2(natsLogger{logger.With("component", "nats")}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("start NATS on %s: not ready after 15s (is the address in use?)", addr)
	}
	return s, nil
}

// natsLogger sends the NATS server's logs to slog; its notices are the
// chatty start-up banner, hence debug.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  {}
