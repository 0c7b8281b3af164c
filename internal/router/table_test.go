package router

import (
	"errors"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := Backend{Release: 1, Addrs: []string{"127.0.0.1:8081"}, Weight: 1}
	route := func(app string, hosts []string, backends ...Backend) Route {
		return Route{App: app, Hosts: hosts, Backends: backends}
	}
	tests := []struct {
		name    string
		table   Table
		wantErr string // substring; empty means valid
	}{
		{"empty table", Table{}, ""},
		{"app with no release yet", Table{Routes: []Route{route("shop", []string{"shop.localhost"})}}, ""},
		{"split and replicas", Table{Routes: []Route{route("shop", []string{"shop.localhost", "shop.example.com"},
			good, Backend{Release: 2, Addrs: []string{"10.0.0.5:80", "[::1]:9000"}, Weight: 0})}}, ""},
		{"same host twice in one app", Table{Routes: []Route{route("shop", []string{"shop.localhost", "SHOP.localhost"}, good)}}, ""},
		{"host served by two apps", Table{Routes: []Route{
			route("shop", []string{"shop.localhost", "www.example.com"}, good),
			route("blog", []string{"WWW.example.com"}, good),
		}}, `host "www.example.com": served by both app "shop" and app "blog"`},
		{"app listed twice", Table{Routes: []Route{route("shop", nil), route("shop", nil)}}, `app "shop": listed in two routes`},
		{"no app name", Table{Routes: []Route{route("", nil)}}, "route 0: app name is empty"},
		{"host with port", Table{Routes: []Route{route("shop", []string{"shop.localhost:8080"})}}, "drop the port"},
		{"empty host", Table{Routes: []Route{route("shop", []string{""})}}, `host "" is empty`},
		{"negative weight", Table{Routes: []Route{route("shop", nil, Backend{Release: 1, Weight: -1})}}, "weight -1 is negative"},
		{"release 0", Table{Routes: []Route{route("shop", nil, Backend{Release: 0})}}, "release numbers start at 1"},
		{"release twice", Table{Routes: []Route{route("shop", nil, good, good)}}, "release v1 listed twice"},
		{"addr without port", Table{Routes: []Route{route("shop", nil, Backend{Release: 1, Addrs: []string{"127.0.0.1"}, Weight: 1})}}, `address "127.0.0.1": want host:port`},
		{"addr as URL", Table{Routes: []Route{route("shop", nil, Backend{Release: 1, Addrs: []string{"http://127.0.0.1:80"}, Weight: 1})}}, "want host:port"},
		{"addr port out of range", Table{Routes: []Route{route("shop", nil, Backend{Release: 1, Addrs: []string{"127.0.0.1:70000"}, Weight: 1})}}, "port must be a number"},
		{"addr without host", Table{Routes: []Route{route("shop", nil, Backend{Release: 1, Addrs: []string{":8080"}, Weight: 1})}}, "want host:port"},
		{"mirror", mirrorTable("127.0.0.1:1", "127.0.0.1:2", 100, 0), ""},
		{"mirror to a live release at 0%", mirrorRoute(MirrorPolicy{Release: 1, Addrs: []string{"127.0.0.1:2"}, MaxBodyBytes: 10}), ""},
		{"mirror release 0", mirrorRoute(MirrorPolicy{Addrs: []string{"127.0.0.1:2"}}), "mirror: release 0: release numbers start at 1"},
		{"mirror without addrs", mirrorRoute(MirrorPolicy{Release: 2}), "mirror: no candidate address"},
		{"mirror bad addr", mirrorRoute(MirrorPolicy{Release: 2, Addrs: []string{"localhost"}}), `mirror: address "localhost": want host:port`},
		{"mirror percent over 100", mirrorRoute(MirrorPolicy{Release: 2, Addrs: []string{"127.0.0.1:2"}, Percent: 100.5}), "percent 100.5: want a share from 0 to 100"},
		{"mirror percent negative", mirrorRoute(MirrorPolicy{Release: 2, Addrs: []string{"127.0.0.1:2"}, Percent: -1}), "percent -1"},
		{"mirror percent NaN", mirrorRoute(MirrorPolicy{Release: 2, Addrs: []string{"127.0.0.1:2"}, Percent: math.NaN()}), "percent NaN"},
		{"mirror negative body limit", mirrorRoute(MirrorPolicy{Release: 2, Addrs: []string{"127.0.0.1:2"}, MaxBodyBytes: -1}), "max_body_bytes -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.table.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidTable) {
				t.Fatalf("Validate() = %v, want ErrInvalidTable mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Table{Routes: []Route{{App: "shop", Backends: []Backend{{Release: 1, Weight: -2, Addrs: []string{"nope"}}}}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "weight -2") || !strings.Contains(err.Error(), `address "nope"`) {
		t.Fatalf("Validate() = %v, want both the weight and the address reported", err)
	}
}

func TestSetTableInvalidKeepsOldTable(t *testing.T) {
	shop := startBackend(t, "shop", nil)
	old := oneRelease("shop", 1, addrOf(shop))
	rt, srv := startRouter(t, old)

	bad := oneRelease("shop", 2, "not-an-address")
	if err := rt.SetTable(bad); !errors.Is(err, ErrInvalidTable) {
		t.Fatalf("SetTable(bad) = %v, want ErrInvalidTable", err)
	}
	if got := rt.Table(); !reflect.DeepEqual(got, old) {
		t.Fatalf("Table() = %+v after a refused table, want the old %+v", got, old)
	}
	if a := mustGet(t, newClient(t), srv.URL, "shop.localhost"); a.status != http.StatusOK || a.release != "v1" {
		t.Fatalf("after a refused table: %d from %q, want 200 from v1", a.status, a.release)
	}
}

// TestTableIsACopy checks that neither the caller of SetTable nor of Table can
// change the router's table by changing their slices afterwards.
func TestTableIsACopy(t *testing.T) {
	rt := New(nil)
	in := oneRelease("shop", 1, "127.0.0.1:8081")
	if err := rt.SetTable(in); err != nil {
		t.Fatal(err)
	}
	in.Routes[0].Hosts[0] = "changed.localhost"
	out := rt.Table()
	out.Routes[0].Backends[0].Addrs[0] = "127.0.0.1:1"
	if got := rt.Table(); !reflect.DeepEqual(got, oneRelease("shop", 1, "127.0.0.1:8081")) {
		t.Fatalf("Table() = %+v, changed through a caller's slice", got)
	}
}

// mirrorRoute is a valid one-route table with the given mirror policy.
func mirrorRoute(p MirrorPolicy) Table {
	t := mirrorTable("127.0.0.1:1", "127.0.0.1:2", 100, 0)
	t.Routes[0].Mirror = &p
	return t
}
