package hcloudsim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// hostname is the server name rule of the real API.
var hostname = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

// serverPlan is a create request with its references resolved.
type serverPlan struct {
	serverType schema.ServerType
	image      *schema.Image
	location   schema.Location
	keys       []string
	networks   []*network
	firewalls  []*schema.Firewall
	group      *schema.PlacementGroup
}

// resolve checks a create request against the state, as the real API does
// before it accepts the call.
func (st *state) resolve(req *schema.ServerCreateRequest) (*serverPlan, *apiError) {
	if !hostname.MatchString(req.Name) {
		return nil, invalidInput("name", "must be a valid hostname")
	}
	for _, srv := range st.servers {
		if srv.Name == req.Name {
			return nil, errorf("uniqueness_error", "server name is already used")
		}
	}
	if st.creating[req.Name] {
		return nil, errorf("uniqueness_error", "server name is already used")
	}
	if req.Labels != nil {
		if err := validateLabels(*req.Labels); err != nil {
			return nil, err
		}
	}
	p := &serverPlan{}
	var ok bool
	if p.serverType, ok = findServerType(req.ServerType); !ok {
		return nil, invalidInput("server_type", "server type not found")
	}
	for _, img := range sortedImages(st.images) {
		if (req.Image.ID != 0 && img.ID == req.Image.ID) ||
			(req.Image.ID == 0 && deref(img.Name) == req.Image.Name && img.Architecture == p.serverType.Architecture) {
			p.image = img
			break
		}
	}
	if p.image == nil {
		return nil, invalidInput("image", "image not found")
	}
	if p.image.Status != "available" {
		return nil, errorf("resource_unavailable", "image %d is not available", p.image.ID)
	}
	if p.location, ok = findLocation(req.Location); !ok {
		return nil, invalidInput("location", "location not found")
	}
	for _, id := range req.SSHKeys {
		k, ok := st.sshKeys[id]
		if !ok {
			return nil, invalidInput("ssh_keys", "ssh key "+strconv.FormatInt(id, 10)+" not found")
		}
		p.keys = append(p.keys, k.PublicKey)
	}
	for _, id := range req.Networks {
		n, ok := st.networks[id]
		if !ok {
			return nil, invalidInput("networks", "network "+strconv.FormatInt(id, 10)+" not found")
		}
		p.networks = append(p.networks, n)
	}
	for _, f := range req.Firewalls {
		fw, ok := st.firewalls[f.Firewall]
		if !ok {
			return nil, invalidInput("firewalls", "firewall "+strconv.FormatInt(f.Firewall, 10)+" not found")
		}
		p.firewalls = append(p.firewalls, fw)
	}
	if req.PlacementGroup != 0 {
		if p.group, ok = st.placementGroups[req.PlacementGroup]; !ok {
			return nil, invalidInput("placement_group", "placement group not found")
		}
		if len(p.group.Servers) >= spreadLimit {
			return nil, errorf("placement_error", "spread placement group %d is full", p.group.ID)
		}
	}
	return p, nil
}

func findServerType(v schema.IDOrName) (schema.ServerType, bool) {
	for _, t := range serverTypes {
		if (v.ID != 0 && t.ID == v.ID) || (v.ID == 0 && t.Name == v.Name) {
			return t, true
		}
	}
	return schema.ServerType{}, false
}

// findLocation resolves a location by name or ID; none means fsn1.
func findLocation(v string) (schema.Location, bool) {
	if v == "" {
		return locations["fsn1"], true
	}
	for _, l := range locations {
		if l.Name == v || strconv.FormatInt(l.ID, 10) == v {
			return l, true
		}
	}
	return schema.Location{}, false
}

// createServer validates the request, runs OnServerCreate without the lock
// (it may boot a real host) and records a server that stays "initializing"
// until its create_server action finishes.
func (s *Sim) createServer(r *http.Request) (int, any, *apiError) {
	var req schema.ServerCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	s.state.advance(time.Now())
	p, err := s.state.resolve(&req)
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	s.state.creating[req.Name] = true
	s.mu.Unlock()

	var ip string
	var hookErr error
	if s.opts.OnServerCreate != nil {
		ip, hookErr = s.opts.OnServerCreate(req.Name, req.UserData, p.keys)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.state.creating, req.Name)
	// The state may have changed while the hook ran; resolve again.
	if p, err = s.state.resolve(&req); err != nil {
		return 0, nil, err
	}
	hookIP := ip != ""
	if !hookIP {
		ip = s.state.publicIP()
	}
	now := time.Now().UTC()
	srv := &schema.Server{
		ID: s.state.newID(), Name: req.Name, Status: "initializing", Created: now,
		PublicNet: schema.ServerPublicNet{
			IPv4:        schema.ServerPublicNetIPv4{ID: s.state.newID(), IP: ip, DNSPtr: "static." + ip + ".clients.your-server.de"},
			IPv6:        schema.ServerPublicNetIPv6{ID: s.state.newID(), IP: "2a01:4f8:c0c:" + strconv.FormatInt(s.state.lastID%0xffff, 16) + "::/64", DNSPtr: []schema.ServerPublicNetIPv6DNSPtr{}},
			FloatingIPs: []int64{},
		},
		PrivateNet:      []schema.ServerPrivateNet{},
		ServerType:      p.serverType,
		IncludedTraffic: 21990232555520,
		Location:        p.location,
		Image:           p.image,
		Labels:          labelsOf(req.Labels),
		Volumes:         []int64{},
		PrimaryDiskSize: p.serverType.Disk,
		PlacementGroup:  p.group,
		LoadBalancers:   []int64{},
	}
	for _, n := range p.networks {
		pn, aerr := n.attach(srv.ID, ip, hookIP && s.opts.HostIPs)
		if aerr != nil {
			return 0, nil, aerr
		}
		srv.PrivateNet = append(srv.PrivateNet, pn)
	}
	for _, fw := range p.firewalls {
		fw.AppliedTo = append(fw.AppliedTo, schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: srv.ID}})
	}
	if p.group != nil {
		p.group.Servers = append(p.group.Servers, srv.ID)
	}
	s.state.servers[srv.ID] = srv

	a := s.state.startAction("create_server", s.opts.ServerBootDuration, ref("server", srv.ID))
	if hookErr != nil {
		a.fail = &schema.ActionError{Code: "action_failed", Message: hookErr.Error()}
	}
	a.done = func(success bool) {
		if success {
			srv.Status = "running"
		} else {
			srv.Status = "off"
		}
	}
	resp := schema.ServerCreateResponse{Server: s.state.serverView(srv), Action: a.Action, NextActions: []schema.Action{}}
	resp.NextActions = append(resp.NextActions, s.state.startAction("start_server", s.opts.ServerBootDuration, ref("server", srv.ID)).Action)
	for _, n := range p.networks {
		na := s.state.startAction("attach_to_network", s.opts.ServerBootDuration, ref("server", srv.ID), ref("network", n.ID))
		resp.NextActions = append(resp.NextActions, na.Action)
	}
	if len(req.SSHKeys) == 0 {
		pw := "sim-" + strconv.FormatInt(srv.ID, 36)
		resp.RootPassword = &pw
	}
	return marshal(http.StatusCreated, resp)
}

// marshal encodes a body while the caller still holds the lock.
func marshal(status int, body any) (int, any, *apiError) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, errorf("server_error", "encode response: %v", err)
	}
	return status, json.RawMessage(raw), nil
}

// serverView fills in the firewalls that currently apply to the server.
func (st *state) serverView(srv *schema.Server) schema.Server {
	out := *srv
	out.PublicNet.Firewalls = []schema.ServerFirewall{}
	for _, fw := range sortedFirewalls(st.firewalls) {
		for _, id := range st.firewallServers(fw) {
			if id == srv.ID {
				out.PublicNet.Firewalls = append(out.PublicNet.Firewalls, schema.ServerFirewall{ID: fw.ID, Status: "applied"})
			}
		}
	}
	return out
}

func (s *Sim) listServers(r *http.Request) (int, any, *apiError) {
	srvs, err := filter(r, s.state.servers,
		func(v *schema.Server) int64 { return v.ID },
		func(v *schema.Server) map[string]string { return v.Labels },
		func(v *schema.Server) string { return v.Name })
	if err != nil {
		return 0, nil, err
	}
	want := r.URL.Query()["status"]
	out := make([]schema.Server, 0, len(srvs))
	for i := range srvs {
		if matchesStatus(want, srvs[i].Status) {
			out = append(out, s.state.serverView(&srvs[i]))
		}
	}
	return page(r, "servers", out)
}

func (s *Sim) getServer(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	srv, ok := s.state.servers[id]
	if !ok {
		return 0, nil, notFound("server", id)
	}
	return http.StatusOK, schema.ServerGetResponse{Server: s.state.serverView(srv)}, nil
}

// deleteServer removes the server from every resource that references it
// and then calls OnServerDelete without the lock.
func (s *Sim) deleteServer(r *http.Request) (int, any, *apiError) {
	id, aerr := pathID(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	s.mu.Lock()
	s.state.advance(time.Now())
	srv, ok := s.state.servers[id]
	if !ok {
		s.mu.Unlock()
		return 0, nil, notFound("server", id)
	}
	delete(s.state.servers, id)
	s.state.detachVolumesOf(id)
	for _, n := range s.state.networks {
		n.Servers = without(n.Servers, id)
	}
	for _, pg := range s.state.placementGroups {
		pg.Servers = without(pg.Servers, id)
	}
	for _, fw := range s.state.firewalls {
		kept := fw.AppliedTo[:0:0]
		for _, res := range fw.AppliedTo {
			if res.Type != "server" || res.Server.ID != id {
				kept = append(kept, res)
			}
		}
		fw.AppliedTo = kept
	}
	a := s.state.startAction("delete_server", s.opts.ActionDuration, ref("server", id))
	status, body, err := marshal(http.StatusOK, schema.ServerDeleteResponse{Action: a.Action})
	name, ip := srv.Name, srv.PublicNet.IPv4.IP
	s.mu.Unlock()
	if s.opts.OnServerDelete != nil {
		s.opts.OnServerDelete(name, ip)
	}
	return status, body, err
}

func without(ids []int64, id int64) []int64 {
	out := ids[:0:0]
	for _, v := range ids {
		if v != id {
			out = append(out, v)
		}
	}
	return out
}

func sortedServers(m map[int64]*schema.Server) []*schema.Server {
	out := make([]*schema.Server, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedImages(m map[int64]*schema.Image) []*schema.Image {
	out := make([]*schema.Image, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedFirewalls(m map[int64]*schema.Firewall) []*schema.Firewall {
	out := make([]*schema.Firewall, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
