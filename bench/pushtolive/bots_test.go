package main

import (
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/bots"
)

// The bench pushes examples/go-notes, so its bot journey must load as prosper
// reads it at deploy time: a broken file would fail every push.
func TestExampleBotsLoad(t *testing.T) {
	scenarios, err := bots.Load("../../examples/go-notes", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) != 1 {
		t.Fatalf("got %d scenarios, want 1", len(scenarios))
	}
	s := scenarios[0]
	if s.Name != "write and read a note" || s.Every != time.Second || s.Cost != (bots.Cost{Amount: 5, Currency: "EUR"}) {
		t.Errorf("scenario = %q every %s cost %+v", s.Name, s.Every, s.Cost)
	}
	if len(s.Steps) != 2 || s.Steps[0].Method != "POST" || s.Steps[1].Path != "/api/notes/{{id}}" {
		t.Errorf("steps = %+v", s.Steps)
	}
}
