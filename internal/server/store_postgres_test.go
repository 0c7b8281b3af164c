package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/node"
	"github.com/prosperhq/prosper/internal/pgtest"
)

// TestStateInPostgres runs the control plane with its state in a real
// PostgreSQL: what one control plane wrote, another one on another machine's
// data dir (here: another directory) reads, and no SQLite file is made.
func TestStateInPostgres(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	start := func(dataDir string) *testServer {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = node.NewClient(dataDir).Shutdown(ctx)
		})
		s, err := New(Config{DataDir: dataDir, Store: url, Listen: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Exe: prosperBin, Version: "test-1", HealthTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		tok, err := os.ReadFile(s.AdminTokenPath())
		if err != nil {
			t.Fatal(err)
		}
		return &testServer{Server: s, t: t, dataDir: dataDir, token: strings.TrimSpace(string(tok))}
	}
	stop := func(ts *testServer) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ts.StopAll(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}

	first := start(t.TempDir())
	first.createApp("shop")
	stop(first)
	if _, err := os.Stat(filepath.Join(first.dataDir, "prosper.db")); err == nil {
		t.Errorf("a SQLite state file was made although the state is in PostgreSQL")
	}

	second := start(t.TempDir())
	defer stop(second)
	r := second.must("GET", "/api/apps", nil, 200)
	var apps []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(r.body, &apps); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if len(apps) != 1 || apps[0].Name != "shop" {
		t.Fatalf("apps seen by the second control plane: %s", r.body)
	}
}
