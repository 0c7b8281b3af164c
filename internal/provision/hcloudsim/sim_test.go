package hcloudsim

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func TestClusterResourcesLifecycle(t *testing.T) {
	type created struct {
		name, userData string
		keys           []string
	}
	var mu sync.Mutex
	var creates []created
	var deletes []string
	sim := startSim(t, Options{
		OnServerCreate: func(name, userData string, keys []string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			creates = append(creates, created{name: name, userData: userData, keys: keys})
			return "127.0.0.42", nil
		},
		OnServerDelete: func(name, ip string) {
			mu.Lock()
			defer mu.Unlock()
			deletes = append(deletes, name+"@"+ip)
		},
	})
	c := newClient(sim, "t")
	ctx := context.Background()
	labels := map[string]string{"prosper.dev/cluster": "demo"}

	pub := publicKey(t)
	key, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "demo", PublicKey: pub, Labels: labels})
	if err != nil {
		t.Fatalf("create ssh key: %v", err)
	}
	if key.Fingerprint == "" || key.Labels["prosper.dev/cluster"] != "demo" {
		t.Fatalf("ssh key = %+v", key)
	}
	network, _, err := c.Network.Create(ctx, hcloud.NetworkCreateOpts{
		Name: "demo", IPRange: mustCIDR(t, "10.0.0.0/16"), Labels: labels,
		Subnets: []hcloud.NetworkSubnet{{Type: hcloud.NetworkSubnetTypeCloud, IPRange: mustCIDR(t, "10.0.1.0/24"), NetworkZone: hcloud.NetworkZoneEUCentral}},
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	fwRes, _, err := c.Firewall.Create(ctx, hcloud.FirewallCreateOpts{
		Name: "demo", Labels: labels,
		Rules: []hcloud.FirewallRule{{Direction: hcloud.FirewallRuleDirectionIn, Protocol: hcloud.FirewallRuleProtocolTCP, Port: hcloud.Ptr("22"), SourceIPs: []net.IPNet{*mustCIDR(t, "0.0.0.0/0")}}},
	})
	if err != nil {
		t.Fatalf("create firewall: %v", err)
	}
	pgRes, _, err := c.PlacementGroup.Create(ctx, hcloud.PlacementGroupCreateOpts{Name: "demo", Type: hcloud.PlacementGroupTypeSpread, Labels: labels})
	if err != nil {
		t.Fatalf("create placement group: %v", err)
	}

	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{
		Name: "demo-cp-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"},
		Location: &hcloud.Location{Name: "nbg1"}, SSHKeys: []*hcloud.SSHKey{key}, Networks: []*hcloud.Network{network},
		Firewalls: []*hcloud.ServerCreateFirewall{{Firewall: *fwRes.Firewall}}, PlacementGroup: pgRes.PlacementGroup,
		Labels: map[string]string{"prosper.dev/cluster": "demo", "role": "cp"}, UserData: "#cloud-config\n",
	})
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	if res.Server.Status != hcloud.ServerStatusInitializing {
		t.Errorf("new server status = %s, want initializing", res.Server.Status)
	}
	if err := c.Action.WaitFor(ctx, append([]*hcloud.Action{res.Action}, res.NextActions...)...); err != nil {
		t.Fatalf("wait for create: %v", err)
	}
	srv, _, err := c.Server.GetByID(ctx, res.Server.ID)
	if err != nil || srv == nil {
		t.Fatalf("get server: %v %v", srv, err)
	}
	if srv.Status != hcloud.ServerStatusRunning || srv.PublicNet.IPv4.IP.String() != "127.0.0.42" ||
		srv.Location.Name != "nbg1" || srv.ServerType.Name != "cx22" || srv.Image.Name != "ubuntu-24.04" {
		t.Errorf("server = status %s ip %s location %s type %s", srv.Status, srv.PublicNet.IPv4.IP, srv.Location.Name, srv.ServerType.Name)
	}
	if len(srv.PrivateNet) != 1 || srv.PrivateNet[0].IP.String() != "10.0.1.2" {
		t.Errorf("private net = %+v, want 10.0.1.2", srv.PrivateNet)
	}
	if len(srv.PublicNet.Firewalls) != 1 || srv.PublicNet.Firewalls[0].Firewall.ID != fwRes.Firewall.ID {
		t.Errorf("firewalls = %+v", srv.PublicNet.Firewalls)
	}
	if srv.PlacementGroup == nil || srv.PlacementGroup.ID != pgRes.PlacementGroup.ID {
		t.Errorf("placement group = %+v", srv.PlacementGroup)
	}
	mu.Lock()
	if len(creates) != 1 || creates[0].name != "demo-cp-1" || creates[0].userData != "#cloud-config\n" || !slices.Equal(creates[0].keys, []string{pub}) {
		t.Errorf("OnServerCreate calls = %+v", creates)
	}
	mu.Unlock()

	// A snapshot of the server is "creating" until its action finishes.
	img, _, err := c.Server.CreateImage(ctx, srv, &hcloud.ServerCreateImageOpts{Type: hcloud.ImageTypeSnapshot, Description: hcloud.Ptr("k3s base"), Labels: labels})
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	if img.Image.Status != hcloud.ImageStatusCreating {
		t.Errorf("snapshot status = %s, want creating", img.Image.Status)
	}
	if err := c.Action.WaitFor(ctx, img.Action); err != nil {
		t.Fatalf("wait for snapshot: %v", err)
	}
	snaps, err := c.Image.AllWithOpts(ctx, hcloud.ImageListOpts{Type: []hcloud.ImageType{hcloud.ImageTypeSnapshot}, ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
	if err != nil || len(snaps) != 1 || snaps[0].Status != hcloud.ImageStatusAvailable || snaps[0].CreatedFrom.ID != srv.ID {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}

	// Everything the cluster created is found by its label.
	for name, n := range map[string]func() (int, error){
		"servers": func() (int, error) {
			v, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
			return len(v), err
		},
		"ssh keys": func() (int, error) {
			v, err := c.SSHKey.AllWithOpts(ctx, hcloud.SSHKeyListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
			return len(v), err
		},
		"networks": func() (int, error) {
			v, err := c.Network.AllWithOpts(ctx, hcloud.NetworkListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
			return len(v), err
		},
		"firewalls": func() (int, error) {
			v, err := c.Firewall.AllWithOpts(ctx, hcloud.FirewallListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
			return len(v), err
		},
		"placement groups": func() (int, error) {
			v, err := c.PlacementGroup.AllWithOpts(ctx, hcloud.PlacementGroupListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
			return len(v), err
		},
	} {
		got, err := n()
		if err != nil || got != 1 {
			t.Errorf("%s with the cluster label = %d, %v; want 1", name, got, err)
		}
	}

	// The firewall cannot go while it protects a server.
	if _, err := c.Firewall.Delete(ctx, fwRes.Firewall); !hcloud.IsError(err, hcloud.ErrorCodeResourceInUse) {
		t.Errorf("delete firewall in use: err = %v, want resource_in_use", err)
	}
	del, _, err := c.Server.DeleteWithResult(ctx, srv)
	if err != nil {
		t.Fatalf("delete server: %v", err)
	}
	if err := c.Action.WaitFor(ctx, del.Action); err != nil {
		t.Fatalf("wait for delete: %v", err)
	}
	if got, _, err := c.Server.GetByID(ctx, srv.ID); err != nil || got != nil {
		t.Errorf("deleted server = %v, %v; want nil", got, err)
	}
	mu.Lock()
	if !slices.Equal(deletes, []string{"demo-cp-1@127.0.0.42"}) {
		t.Errorf("OnServerDelete calls = %v", deletes)
	}
	mu.Unlock()
	if _, err := c.Firewall.Delete(ctx, fwRes.Firewall); err != nil {
		t.Errorf("delete firewall: %v", err)
	}
	if _, err := c.PlacementGroup.Delete(ctx, pgRes.PlacementGroup); err != nil {
		t.Errorf("delete placement group: %v", err)
	}
	if _, err := c.Network.Delete(ctx, network); err != nil {
		t.Errorf("delete network: %v", err)
	}
	if _, err := c.SSHKey.Delete(ctx, key); err != nil {
		t.Errorf("delete ssh key: %v", err)
	}
	if _, err := c.Image.Delete(ctx, snaps[0]); err != nil {
		t.Errorf("delete snapshot: %v", err)
	}
	if keys, err := c.SSHKey.All(ctx); err != nil || len(keys) != 0 {
		t.Errorf("ssh keys after delete = %v, %v", keys, err)
	}
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPagination(t *testing.T) {
	sim := startSim(t, Options{})
	c := newClient(sim, "t")
	ctx := context.Background()
	for i := range 60 {
		if _, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{
			Name: fmt.Sprintf("node-%02d", i), ServerType: &hcloud.ServerType{Name: "cpx11"}, Image: &hcloud.Image{Name: "debian-12"},
			Labels: map[string]string{"pool": []string{"a", "b", "c"}[i%3]},
		}); err != nil {
			t.Fatalf("create server %d: %v", i, err)
		}
	}
	tests := []struct {
		page, wantLen, wantNext, wantPrev int
	}{
		{page: 1, wantLen: 25, wantNext: 2, wantPrev: 0},
		{page: 2, wantLen: 25, wantNext: 3, wantPrev: 1},
		{page: 3, wantLen: 10, wantNext: 0, wantPrev: 2},
	}
	for _, tt := range tests {
		servers, resp, err := c.Server.List(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{Page: tt.page, PerPage: 25}})
		if err != nil {
			t.Fatalf("list page %d: %v", tt.page, err)
		}
		p := resp.Meta.Pagination
		if len(servers) != tt.wantLen || p.NextPage != tt.wantNext || p.PreviousPage != tt.wantPrev || p.LastPage != 3 || p.TotalEntries != 60 {
			t.Errorf("page %d: %d servers, meta %+v", tt.page, len(servers), p)
		}
		if want := fmt.Sprintf("node-%02d", (tt.page-1)*25); servers[0].Name != want {
			t.Errorf("page %d starts with %s, want %s", tt.page, servers[0].Name, want)
		}
	}
	before := sim.Calls()["GET /servers"]
	all, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{PerPage: 25}})
	if err != nil || len(all) != 60 {
		t.Fatalf("all servers = %d, %v", len(all), err)
	}
	if got := sim.Calls()["GET /servers"] - before; got != 3 {
		t.Errorf("listing 60 servers 25 per page took %d calls, want 3", got)
	}
	pool, err := c.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "pool=b", PerPage: 25}})
	if err != nil || len(pool) != 20 {
		t.Errorf("servers in pool b = %d, %v; want 20", len(pool), err)
	}
	if got := sim.Calls()["POST /servers"]; got != 60 {
		t.Errorf("POST /servers calls = %d, want 60", got)
	}
}
