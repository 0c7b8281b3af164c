package hcloudsim

import (
	"context"
	"fmt"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func TestVolumesAndLoadBalancers(t *testing.T) {
	sim := startSim(t, Options{})
	c := newClient(sim, "t")
	ctx := context.Background()
	ours := map[string]string{"prosper.dev/cluster": "demo"}
	srv, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "demo-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}, Labels: ours})
	if err != nil {
		t.Fatal(err)
	}
	vol, _, err := c.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: "pvc-a", Size: 10, Server: srv.Server, Labels: ours})
	if err != nil {
		t.Fatal(err)
	}
	if vol.Volume.Server == nil || vol.Volume.Server.ID != srv.Server.ID {
		t.Fatalf("volume not attached: %+v", vol.Volume)
	}
	// The real API refuses to delete an attached volume.
	if _, err := c.Volume.Delete(ctx, vol.Volume); !hcloud.IsError(err, hcloud.ErrorCodeLocked) {
		t.Errorf("delete attached volume: %v, want locked", err)
	}
	for i := range 55 {
		if _, _, err := c.Volume.Create(ctx, hcloud.VolumeCreateOpts{Name: fmt.Sprintf("other-%d", i), Size: 10, Location: &hcloud.Location{Name: "fsn1"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Label selector and pagination over 56 volumes.
	all, err := c.Volume.All(ctx)
	if err != nil || len(all) != 56 {
		t.Fatalf("all volumes: %d, %v", len(all), err)
	}
	mine, err := c.Volume.AllWithOpts(ctx, hcloud.VolumeListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
	if err != nil || len(mine) != 1 || mine[0].Name != "pvc-a" {
		t.Fatalf("labelled volumes: %v, %v", mine, err)
	}
	// Deleting the server detaches the volume and keeps it.
	if _, _, err := c.Server.DeleteWithResult(ctx, srv.Server); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Volume.GetByID(ctx, vol.Volume.ID)
	if err != nil || got == nil || got.Server != nil {
		t.Fatalf("volume after its server's delete: %+v, %v", got, err)
	}
	if _, err := c.Volume.Delete(ctx, got); err != nil {
		t.Errorf("delete detached volume: %v", err)
	}

	lb, _, err := c.LoadBalancer.Create(ctx, hcloud.LoadBalancerCreateOpts{Name: "demo-lb", LoadBalancerType: &hcloud.LoadBalancerType{Name: "lb11"}, Location: &hcloud.Location{Name: "nbg1"}, Labels: ours})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.LoadBalancer.Create(ctx, hcloud.LoadBalancerCreateOpts{Name: "demo-lb", LoadBalancerType: &hcloud.LoadBalancerType{Name: "lb11"}}); !hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		t.Errorf("duplicate load balancer name: %v", err)
	}
	lbs, err := c.LoadBalancer.AllWithOpts(ctx, hcloud.LoadBalancerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "prosper.dev/cluster=demo"}})
	if err != nil || len(lbs) != 1 || lbs[0].Location.Name != "nbg1" || lbs[0].PublicNet.IPv4.IP == nil {
		t.Fatalf("labelled load balancers: %+v, %v", lbs, err)
	}
	res, _, err := c.LoadBalancer.DeleteWithResult(ctx, lb.LoadBalancer)
	if err != nil || res.Action == nil {
		t.Fatalf("delete load balancer: %+v, %v", res, err)
	}
	if err := c.Action.WaitFor(ctx, res.Action); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.LoadBalancer.GetByID(ctx, lb.LoadBalancer.ID); err != nil || got != nil {
		t.Errorf("load balancer after delete: %+v, %v", got, err)
	}
}

func TestServerTakesItsIPInATestRangeNetwork(t *testing.T) {
	sim := startSim(t, Options{OnServerCreate: func(string, string, []string) (string, error) { return "198.19.7.9", nil }})
	c := newClient(sim, "t")
	ctx := context.Background()
	n, _, err := c.Network.Create(ctx, hcloud.NetworkCreateOpts{
		Name: "demo", IPRange: mustCIDR(t, "198.19.0.0/16"),
		Subnets: []hcloud.NetworkSubnet{{Type: hcloud.NetworkSubnetTypeCloud, IPRange: mustCIDR(t, "198.19.0.0/16"), NetworkZone: hcloud.NetworkZoneEUCentral}},
	})
	if err != nil {
		t.Fatalf("create network on the test range: %v", err)
	}
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "demo-1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}, Networks: []*hcloud.Network{n}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Server.PrivateNet; len(got) != 1 || got[0].IP.String() != "198.19.7.9" || res.Server.PublicNet.IPv4.IP.String() != "198.19.7.9" {
		t.Errorf("server networks: public %v, private %+v; want 198.19.7.9 for both", res.Server.PublicNet.IPv4.IP, got)
	}
	if _, _, err := c.Network.Create(ctx, hcloud.NetworkCreateOpts{Name: "public", IPRange: mustCIDR(t, "203.0.113.0/24")}); !hcloud.IsError(err, hcloud.ErrorCodeInvalidInput) {
		t.Errorf("network on a public range: %v, want invalid_input", err)
	}
}
