package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/store"
)

func TestIncidentCommands(t *testing.T) {
	startPlatform(t)
	ok(t, "app", "create", "shop")

	if out := ok(t, "incident", "list"); !strings.Contains(out, "no incidents") {
		t.Errorf("empty list: %q", out)
	}
	out := ok(t, "incident", "open", "shop", "--title", "checkout answers 500", "--details", "since 14:02")
	if !strings.Contains(out, "incident 1 of shop opened: checkout answers 500") || !strings.Contains(out, "prosper incident resolve 1") {
		t.Errorf("open said %q", out)
	}
	ok(t, "incident", "open", "shop", "--title", "slow search")

	var list []store.Incident
	if err := json.Unmarshal([]byte(ok(t, "incident", "list", "--app", "shop", "--open", "--since", "30d", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Title != "slow search" || list[1].Cause != "manual" || list[1].Details != "since 14:02" {
		t.Fatalf("list = %+v", list)
	}

	if out := ok(t, "incident", "resolve", "#1"); !strings.Contains(out, "incident 1 of shop resolved after") {
		t.Errorf("resolve said %q", out)
	}
	out = ok(t, "incident", "list")
	if !strings.Contains(out, "OPEN") || !strings.Contains(out, "resolved") || !strings.Contains(out, "checkout answers 500") {
		t.Errorf("list:\n%s", out)
	}
	if err := json.Unmarshal([]byte(ok(t, "incident", "list", "--open", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != 2 {
		t.Errorf("open after resolving 1: %+v", list)
	}

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"incident", "open", "nope", "--title", "x"}, []string{`unknown app "nope"`, "prosper app create nope"}},
		{[]string{"incident", "open", "shop"}, []string{"--title"}},
		{[]string{"incident", "open", "shop", "--title", "x", "--release", "v9"}, []string{"shop has no release v9", "prosper releases shop"}},
		{[]string{"incident", "open", "shop", "--title", "x", "--release", "latest"}, []string{`release "latest" is not a version`}},
		{[]string{"incident", "resolve", "1"}, []string{"incident 1 of shop was resolved already"}},
		{[]string{"incident", "resolve", "99"}, []string{"there is no incident 99", "prosper incident list"}},
		{[]string{"incident", "resolve", "abc"}, []string{`incident "abc" is not an incident number`}},
		{[]string{"incident", "resolve", "2", "--by", "v3"}, []string{"shop has no release v3"}},
		{[]string{"incident", "resolve"}, []string{"usage: prosper incident resolve ID"}},
		{[]string{"incident", "list", "--since", "yesterday"}, []string{`since "yesterday" is not a window`, "90d"}},
		{[]string{"incident", "list", "-o", "yaml"}, []string{`output format "yaml"`}},
		{[]string{"incident", "close"}, []string{`unknown command "close" for "prosper incident"`}},
	}
	for _, tt := range tests {
		fails(t, tt.want, tt.args...)
	}
}
