package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppConfigAndStatusCommands(t *testing.T) {
	p := startPlatform(t)
	git := p.srv.URL() + "/git/shop.git"

	out := ok(t, "app", "create", "shop", "--team", "payments")
	for _, want := range []string{"created shop", "git remote: " + git, "url:        http://shop.localhost:",
		"git push http://prosper:TOKEN@" + strings.TrimPrefix(git, "http://") + " main"} {
		if !strings.Contains(out, want) {
			t.Errorf("app create output lacks %q:\n%s", want, out)
		}
	}
	fails(t, []string{`app "shop" exists already`, "pick another name", "prosper app delete shop"}, "app", "create", "shop")
	fails(t, []string{`app name "Bad_Name" is not valid`}, "app", "create", "Bad_Name")
	var created map[string]any
	if err := json.Unmarshal([]byte(ok(t, "app", "create", "cart", "-o", "json")), &created); err != nil {
		t.Fatal(err)
	}
	if created["name"] != "cart" || created["git_url"] != p.srv.URL()+"/git/cart.git" || created["state"] != "new" {
		t.Errorf("app create -o json = %v", created)
	}

	out = ok(t, "app", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "cart") ||
		!strings.Contains(lines[2], "payments") || !strings.Contains(lines[2], "new") {
		t.Errorf("app list:\n%s", out)
	}
	var apps []map[string]any
	if err := json.Unmarshal([]byte(ok(t, "app", "list", "-o", "json")), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[1]["name"] != "shop" || apps[1]["team"] != "payments" || apps[1]["git_url"] != git ||
		apps[1]["state"] != "new" {
		t.Errorf("app list -o json = %v", apps)
	}

	out = ok(t, "status", "shop")
	for _, want := range []string{"shop: new", "url:   http://shop.localhost:", "live:  none yet: git push to " + git} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out := ok(t, "status"); strings.Count(out, "live:  none yet") != 2 {
		t.Errorf("status of every app:\n%s", out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(ok(t, "status", "shop", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if app, _ := st["app"].(map[string]any); app["name"] != "shop" || app["state"] != "new" {
		t.Errorf("status -o json = %v", st)
	}

	if out := ok(t, "releases", "shop"); !strings.Contains(out, "shop has no releases yet") {
		t.Errorf("releases of a new app:\n%s", out)
	}
	if out := ok(t, "releases", "shop", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("releases -o json of a new app: %s", out)
	}
	fails(t, []string{"no earlier release to roll back to", "prosper releases shop"}, "rollback", "shop")

	// Config before the first deploy is kept for it.
	out = ok(t, "config", "set", "shop", "GREETING=hello world", "EMPTY=", "URL=postgres://db/x?a=b")
	if !strings.Contains(out, "the first deploy of shop will use it") || strings.Contains(out, "is live") {
		t.Errorf("config set before a deploy:\n%s", out)
	}
	if out := ok(t, "config", "list", "shop"); out != "EMPTY=\nGREETING=hello world\nURL=postgres://db/x?a=b\n" {
		t.Errorf("config list:\n%s", out)
	}
	fails(t, []string{"config key PORT is set by prosper"}, "config", "set", "shop", "PORT=1")
	ok(t, "config", "unset", "shop", "EMPTY", "URL")
	var vars map[string]string
	if err := json.Unmarshal([]byte(ok(t, "config", "list", "shop", "-o", "json")), &vars); err != nil || len(vars) != 1 {
		t.Errorf("config list -o json = %v %v", vars, err)
	}

	for _, args := range [][]string{{"status", "nope"}, {"releases", "nope"}, {"config", "list", "nope"}, {"logs", "nope"},
		{"config", "set", "nope", "A=1"}, {"rollback", "nope"}, {"app", "delete", "nope", "--yes"},
		{"deploy", t.TempDir(), "--app", "nope"}} {
		fails(t, []string{`unknown app "nope"`, "prosper app create nope"}, args...)
	}

	repo := filepath.Join(p.dataDir, "git", "shop.git")
	if _, err := os.Stat(repo); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, "app", "delete", "shop", "--yes"); out != "deleted shop\n" {
		t.Errorf("app delete prints %q", out)
	}
	if _, err := os.Stat(repo); !os.IsNotExist(err) {
		t.Errorf("the repository of a deleted app is still there: %v", err)
	}
	fails(t, []string{`unknown app "shop"`}, "status", "shop")
	ok(t, "app", "delete", "cart", "--yes")
	if out := ok(t, "status"); !strings.Contains(out, "no apps yet") {
		t.Errorf("status with no apps:\n%s", out)
	}
	if out := ok(t, "status", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("status -o json with no apps: %s", out)
	}
}

func TestCommandsTellAuthAndConnectionErrors(t *testing.T) {
	p := startPlatform(t)
	t.Setenv("PROSPER_TOKEN", "prsp_wrong")
	fails(t, []string{"the token is not valid", "admin-token", "prosper login " + p.srv.URL()}, "app", "list")
	fails(t, []string{"the token is not valid"}, "config", "set", "shop", "A=1")

	t.Setenv("PROSPER_URL", "http://127.0.0.1:1")
	fails(t, []string{"cannot reach prosper at http://127.0.0.1:1", "prosper up"}, "app", "list")
}
