package hcloudsim

import (
	"net/netip"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// state is everything the simulated project holds. It is guarded by Sim.mu.
type state struct {
	lastID          int64
	actions         map[int64]*action
	sshKeys         map[int64]*schema.SSHKey
	networks        map[int64]*network
	firewalls       map[int64]*schema.Firewall
	placementGroups map[int64]*schema.PlacementGroup
	images          map[int64]*schema.Image
	servers         map[int64]*schema.Server
	volumes         map[int64]*schema.Volume
	loadBalancers   map[int64]*schema.LoadBalancer
	// creating holds the names of servers whose OnServerCreate hook is
	// running, so that a concurrent create with the same name is refused.
	creating map[string]bool
	// nextPublicIP hands out addresses from the benchmarking range
	// 198.18.0.0/15 when no OnServerCreate hook supplies one.
	nextPublicIP netip.Addr
}

// network is a network with the next free address of each subnet.
type network struct {
	schema.Network
	nextIP map[int]netip.Addr
}

func newState() *state {
	st := &state{
		actions:         map[int64]*action{},
		sshKeys:         map[int64]*schema.SSHKey{},
		networks:        map[int64]*network{},
		firewalls:       map[int64]*schema.Firewall{},
		placementGroups: map[int64]*schema.PlacementGroup{},
		images:          map[int64]*schema.Image{},
		servers:         map[int64]*schema.Server{},
		volumes:         map[int64]*schema.Volume{},
		loadBalancers:   map[int64]*schema.LoadBalancer{},
		creating:        map[string]bool{},
		nextPublicIP:    netip.MustParseAddr("198.18.0.1"),
	}
	created := time.Date(2024, 4, 25, 0, 0, 0, 0, time.UTC)
	for _, img := range []struct{ name, flavor, version, arch string }{
		{"ubuntu-24.04", "ubuntu", "24.04", "x86"},
		{"ubuntu-24.04", "ubuntu", "24.04", "arm"},
		{"ubuntu-22.04", "ubuntu", "22.04", "x86"},
		{"debian-12", "debian", "12", "x86"},
	} {
		id := st.newID()
		name, version := img.name, img.version
		st.images[id] = &schema.Image{
			ID: id, Status: "available", Type: "system", Name: &name,
			Description: img.name, DiskSize: 5, Created: &created,
			OSFlavor: img.flavor, OSVersion: &version, Architecture: img.arch,
			RapidDeploy: true, Labels: map[string]string{},
		}
	}
	return st
}

func (st *state) newID() int64 {
	st.lastID++
	return st.lastID
}

// publicIP returns the next address of the simulator's public range.
func (st *state) publicIP() string {
	ip := st.nextPublicIP
	st.nextPublicIP = ip.Next()
	return ip.String()
}

// labelsOf copies a request's optional labels into a never-nil map.
func labelsOf(labels *map[string]string) map[string]string {
	out := map[string]string{}
	if labels != nil {
		for k, v := range *labels {
			out[k] = v
		}
	}
	return out
}

// serverTypes are the server types the simulator knows, by name.
var serverTypes = map[string]schema.ServerType{
	"cx22":  {ID: 104, Name: "cx22", Description: "CX22", Category: "shared", Cores: 2, Memory: 4, Disk: 40, StorageType: "local", CPUType: "shared", Architecture: "x86"},
	"cx32":  {ID: 105, Name: "cx32", Description: "CX32", Category: "shared", Cores: 4, Memory: 8, Disk: 80, StorageType: "local", CPUType: "shared", Architecture: "x86"},
	"cpx11": {ID: 22, Name: "cpx11", Description: "CPX 11", Category: "shared", Cores: 2, Memory: 2, Disk: 40, StorageType: "local", CPUType: "shared", Architecture: "x86"},
	"cpx21": {ID: 23, Name: "cpx21", Description: "CPX 21", Category: "shared", Cores: 3, Memory: 4, Disk: 80, StorageType: "local", CPUType: "shared", Architecture: "x86"},
	"cax11": {ID: 45, Name: "cax11", Description: "CAX11", Category: "shared", Cores: 2, Memory: 4, Disk: 40, StorageType: "local", CPUType: "shared", Architecture: "arm"},
	"ccx13": {ID: 96, Name: "ccx13", Description: "CCX13 Dedicated CPU", Category: "dedicated", Cores: 2, Memory: 8, Disk: 80, StorageType: "local", CPUType: "dedicated", Architecture: "x86"},
}

// locations are the locations the simulator knows, by name.
var locations = map[string]schema.Location{
	"fsn1": {ID: 1, Name: "fsn1", Description: "Falkenstein DC Park 1", Country: "DE", City: "Falkenstein", Latitude: 50.47612, Longitude: 12.370071, NetworkZone: "eu-central"},
	"nbg1": {ID: 2, Name: "nbg1", Description: "Nuremberg DC Park 1", Country: "DE", City: "Nuremberg", Latitude: 49.452102, Longitude: 11.076665, NetworkZone: "eu-central"},
	"hel1": {ID: 3, Name: "hel1", Description: "Helsinki DC Park 1", Country: "FI", City: "Helsinki", Latitude: 60.169855, Longitude: 24.938379, NetworkZone: "eu-central"},
	"ash":  {ID: 4, Name: "ash", Description: "Ashburn, VA", Country: "US", City: "Ashburn, VA", Latitude: 39.045821, Longitude: -77.487073, NetworkZone: "us-east"},
	"hil":  {ID: 5, Name: "hil", Description: "Hillsboro, OR", Country: "US", City: "Hillsboro, OR", Latitude: 45.54222, Longitude: -122.951924, NetworkZone: "us-west"},
	"sin":  {ID: 6, Name: "sin", Description: "Singapore", Country: "SG", City: "Singapore", Latitude: 1.283333, Longitude: 103.833333, NetworkZone: "ap-southeast"},
}
