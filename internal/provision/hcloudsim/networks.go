package hcloudsim

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

func (s *Sim) createNetwork(r *http.Request) (int, any, *apiError) {
	var req schema.NetworkCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	ipRange, perr := netip.ParsePrefix(req.IPRange)
	if perr != nil || !ipRange.Addr().Is4() || !(ipRange.Addr().IsPrivate() || testRange.Contains(ipRange.Addr())) {
		return 0, nil, invalidInput("ip_range", "must be a private IPv4 range in CIDR notation")
	}
	for _, n := range s.state.networks {
		if n.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "network with the same name already exists")
		}
	}
	n := &network{
		Network: schema.Network{
			ID: s.state.newID(), Name: req.Name, Created: time.Now().UTC(), IPRange: ipRange.String(),
			Subnets: []schema.NetworkSubnet{}, Servers: []int64{}, LoadBalancers: []int64{},
			Labels: labelsOf(req.Labels),
		},
		nextIP: map[int]netip.Addr{},
	}
	for i, sub := range req.Subnets {
		p, err := netip.ParsePrefix(sub.IPRange)
		if err != nil || !ipRange.Contains(p.Addr()) || p.Bits() < ipRange.Bits() {
			return 0, nil, invalidInput("subnets", "ip_range must lie within the network's ip_range")
		}
		if sub.Type != "cloud" && sub.Type != "server" && sub.Type != "vswitch" {
			return 0, nil, invalidInput("subnets", "type must be cloud, server or vswitch")
		}
		if sub.NetworkZone == "" {
			return 0, nil, invalidInput("subnets", "network_zone is required")
		}
		// The first address of the network is its gateway; servers get
		// addresses from the second one of their subnet on.
		sub.IPRange = p.Masked().String()
		sub.Gateway = ipRange.Masked().Addr().Next().String()
		n.Subnets = append(n.Subnets, sub)
		n.nextIP[i] = p.Masked().Addr().Next().Next()
	}
	s.state.networks[n.ID] = n
	return http.StatusCreated, schema.NetworkCreateResponse{Network: n.Network}, nil
}

func (s *Sim) listNetworks(r *http.Request) (int, any, *apiError) {
	nets, err := filter(r, s.state.networks,
		func(n *network) int64 { return n.ID },
		func(n *network) map[string]string { return n.Labels },
		func(n *network) string { return n.Name })
	if err != nil {
		return 0, nil, err
	}
	out := make([]schema.Network, len(nets))
	for i, n := range nets {
		out[i] = n.Network
	}
	return page(r, "networks", out)
}

func (s *Sim) getNetwork(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	n, ok := s.state.networks[id]
	if !ok {
		return 0, nil, notFound("network", id)
	}
	return http.StatusOK, schema.NetworkGetResponse{Network: n.Network}, nil
}

// deleteNetwork deletes a network; its servers lose their private
// interface on it, as with the real API.
func (s *Sim) deleteNetwork(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := s.state.networks[id]; !ok {
		return 0, nil, notFound("network", id)
	}
	delete(s.state.networks, id)
	for _, srv := range s.state.servers {
		kept := srv.PrivateNet[:0:0]
		for _, pn := range srv.PrivateNet {
			if pn.Network != id {
				kept = append(kept, pn)
			}
		}
		srv.PrivateNet = kept
	}
	return http.StatusNoContent, nil, nil
}

// testRange is the benchmarking range (RFC 2544) that tests run real hosts
// on. The real API accepts RFC 1918 ranges only; the simulator also accepts
// this one so that a cluster's "private" network can be the range the test
// hosts really live on (see attach).
var testRange = netip.MustParsePrefix("198.18.0.0/15")

// attach gives a server an address on the network's first subnet. When want
// (the public IP OnServerCreate returned) lies in the network's range, the
// server gets that address in the network too: tests run real hosts whose
// one address is both, so that traffic to a node's private IP (k3s joining
// over the private network) reaches the real host. anyRange (Options.HostIPs)
// takes want wherever it lies.
func (n *network) attach(serverID int64, want string, anyRange bool) (schema.ServerPrivateNet, *apiError) {
	if len(n.Subnets) == 0 {
		return schema.ServerPrivateNet{}, errorf("no_subnet_available", "network %d has no subnet", n.ID)
	}
	p := netip.MustParsePrefix(n.Subnets[0].IPRange)
	ip := n.nextIP[0]
	if w, err := netip.ParseAddr(want); err == nil && (anyRange || netip.MustParsePrefix(n.IPRange).Contains(w)) {
		ip = w
	} else {
		if !p.Contains(ip) {
			return schema.ServerPrivateNet{}, errorf("ip_not_available", "subnet %s is full", p)
		}
		n.nextIP[0] = ip.Next()
	}
	n.Servers = append(n.Servers, serverID)
	b := ip.As4()
	return schema.ServerPrivateNet{
		Network: n.ID, IP: ip.String(), AliasIPs: []string{},
		MACAddress: macFor(byte(n.ID), b),
	}, nil
}

func macFor(prefix byte, b [4]byte) string {
	const hex = "0123456789abcdef"
	out := []byte("86:00:00:00:00:00")
	for i, v := range []byte{prefix, b[0], b[1], b[2], b[3]} {
		out[3+3*i] = hex[v>>4]
		out[4+3*i] = hex[v&15]
	}
	return string(out)
}
