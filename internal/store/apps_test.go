package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCreateApp(t *testing.T) { eachBackend(t, testCreateApp) }

func testCreateApp(t *testing.T, be backend) {
	s := newTestStore(t, be)
	start := stepClock(s)
	ctx := context.Background()

	got, err := s.CreateApp(ctx, App{Name: "shop", Team: " payments ", Domains: []string{"Shop.Example.com", "a.example.com", "shop.example.com"}})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	want := App{Name: "shop", Team: "payments", Domains: []string{"a.example.com", "shop.example.com"},
		DeployBranch: DefaultDeployBranch, CreatedAt: start}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateApp returned %+v, want %+v", got, want)
	}
	stored, err := s.GetApp(ctx, "shop")
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("GetApp = %+v, want %+v", stored, want)
	}

	if _, err := s.CreateApp(ctx, App{Name: "shop"}); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateApp(shop) err = %v, want ErrExists", err)
	}
	_, err = s.CreateApp(ctx, App{Name: "other", Domains: []string{"shop.example.com"}})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `app "shop"`) {
		t.Errorf("CreateApp with a taken domain err = %v, want ErrExists naming app shop", err)
	}
	if _, err := s.GetApp(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("app with a taken domain was created anyway: %v", err)
	}
}

func TestCreateAppValidates(t *testing.T) { eachBackend(t, testCreateAppValidates) }

func testCreateAppValidates(t *testing.T, be backend) {
	s := newTestStore(t, be)
	tests := []struct {
		name string
		app  App
		ok   bool
	}{
		{"simple", App{Name: "shop"}, true},
		{"digits and hyphen", App{Name: "shop-2"}, true},
		{"63 chars", App{Name: strings.Repeat("a", 63)}, true},
		{"empty", App{Name: ""}, false},
		{"upper case", App{Name: "Shop"}, false},
		{"leading hyphen", App{Name: "-shop"}, false},
		{"trailing hyphen", App{Name: "shop-"}, false},
		{"dot", App{Name: "shop.v2"}, false},
		{"slash", App{Name: "../shop"}, false},
		{"64 chars", App{Name: strings.Repeat("b", 64)}, false},
		{"bad domain", App{Name: "d1", Domains: []string{"exa mple.com"}}, false},
		{"domain with port", App{Name: "d2", Domains: []string{"example.com:80"}}, false},
		{"empty domain", App{Name: "d3", Domains: []string{""}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateApp(context.Background(), tc.app)
			if tc.ok && err != nil {
				t.Errorf("CreateApp(%q): %v", tc.app.Name, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("CreateApp(%q) err = %v, want ErrInvalid", tc.app.Name, err)
			}
		})
	}
}

func TestListApps(t *testing.T) { eachBackend(t, testListApps) }

func testListApps(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	apps, err := s.ListApps(ctx)
	if err != nil || apps == nil || len(apps) != 0 {
		t.Fatalf("ListApps of an empty store = %#v, %v; want an empty non-nil list", apps, err)
	}
	for _, a := range []App{{Name: "zeta"}, {Name: "alpha", Domains: []string{"b.com", "a.com"}}, {Name: "mid", Domains: []string{"c.com"}}} {
		if _, err := s.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	apps, err = s.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	domains := map[string][]string{}
	for _, a := range apps {
		names = append(names, a.Name)
		domains[a.Name] = a.Domains
	}
	if want := []string{"alpha", "mid", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListApps names = %v, want %v", names, want)
	}
	wantDomains := map[string][]string{"alpha": {"a.com", "b.com"}, "mid": {"c.com"}, "zeta": {}}
	if !reflect.DeepEqual(domains, wantDomains) {
		t.Errorf("ListApps domains = %v, want %v", domains, wantDomains)
	}
}

func TestUpdateApp(t *testing.T) { eachBackend(t, testUpdateApp) }

func testUpdateApp(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	created, err := s.CreateApp(ctx, App{Name: "shop", Domains: []string{"old.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, App{Name: "blog", Domains: []string{"blog.example.com"}}); err != nil {
		t.Fatal(err)
	}

	err = s.UpdateApp(ctx, App{Name: "shop", Team: "core", DeployBranch: "release", Domains: []string{"new.example.com"}})
	if err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	got, err := s.GetApp(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := App{Name: "shop", Team: "core", DeployBranch: "release", Domains: []string{"new.example.com"}, CreatedAt: created.CreatedAt}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after UpdateApp: %+v, want %+v", got, want)
	}

	// The released domain is free for another app.
	if err := s.UpdateApp(ctx, App{Name: "blog", Domains: []string{"old.example.com"}}); err != nil {
		t.Errorf("UpdateApp taking a released domain: %v", err)
	}
	// A domain of another app is refused and nothing changes.
	if err := s.UpdateApp(ctx, App{Name: "shop", Team: "x", Domains: []string{"old.example.com"}}); !errors.Is(err, ErrExists) {
		t.Errorf("UpdateApp with another app's domain err = %v, want ErrExists", err)
	}
	if got, _ := s.GetApp(ctx, "shop"); got.Team != "core" || !reflect.DeepEqual(got.Domains, []string{"new.example.com"}) {
		t.Errorf("failed UpdateApp changed the app: %+v", got)
	}
	// An empty branch falls back to the default; no domains is an empty list.
	if err := s.UpdateApp(ctx, App{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetApp(ctx, "shop"); got.DeployBranch != DefaultDeployBranch || len(got.Domains) != 0 {
		t.Errorf("after UpdateApp with zero fields: %+v", got)
	}
	if err := s.UpdateApp(ctx, App{Name: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateApp of a missing app err = %v, want ErrNotFound", err)
	}
}

func TestDeleteApp(t *testing.T) { eachBackend(t, testDeleteApp) }

func testDeleteApp(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")
	if _, err := s.SetConfig(ctx, "shop", map[string]string{"A": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(ctx, Release{App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCommits(ctx, []Commit{{App: "shop", SHA: "abc"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvent(ctx, Event{Type: "app.created", App: "shop"}); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteApp(ctx, "shop"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	if _, err := s.GetApp(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetApp after delete err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteApp(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteApp err = %v, want ErrNotFound", err)
	}
	for _, table := range []string{"config_vars", "releases", "commits", "app_domains"} {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE app = 'shop'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s rows of the deleted app: %d, %v; want 0", table, n, err)
		}
	}
	events, err := s.Events(ctx, EventQuery{App: "shop"})
	if err != nil || len(events) != 1 {
		t.Errorf("events of the deleted app = %v, %v; want the one appended", events, err)
	}

	// A new app of the same name starts again at release 1 with no config.
	mustCreateApp(t, s, "shop")
	r, err := s.CreateRelease(ctx, Release{App: "shop"})
	if err != nil || r.Version != 1 {
		t.Errorf("first release of the recreated app = v%d, %v; want v1", r.Version, err)
	}
	if cfg, err := s.Config(ctx, "shop"); err != nil || len(cfg) != 0 {
		t.Errorf("config of the recreated app = %v, %v; want empty", cfg, err)
	}
}

func TestAppJSON(t *testing.T) {
	b, err := json.Marshal(App{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "team", "domains", "deploy_branch", "created_at"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON %s lacks key %q", b, key)
		}
	}
	if !strings.Contains(string(b), `"domains":[]`) {
		t.Errorf("JSON %s: domains should be [] when empty", b)
	}
}
