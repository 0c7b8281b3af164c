package hcloudsim

import (
	"net/http"
	"sort"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

func (s *Sim) createFirewall(r *http.Request) (int, any, *apiError) {
	var req schema.FirewallCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	for _, f := range s.state.firewalls {
		if f.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "firewall with the same name already exists")
		}
	}
	if err := validateLabels(labelsOf(req.Labels)); err != nil {
		return 0, nil, err
	}
	rules, rerr := firewallRulesOf(req.Rules)
	if rerr != nil {
		return 0, nil, rerr
	}
	fw := &schema.Firewall{
		ID: s.state.newID(), Name: req.Name, Labels: labelsOf(req.Labels), Created: time.Now().UTC(),
		Rules: rules, AppliedTo: []schema.FirewallResource{},
	}
	actions := []schema.Action{}
	for _, res := range req.ApplyTo {
		switch {
		case res.Type == "server" && res.Server != nil:
			if _, ok := s.state.servers[res.Server.ID]; !ok {
				return 0, nil, errorf("firewall_resource_not_found", "server %d not found", res.Server.ID)
			}
			fw.AppliedTo = append(fw.AppliedTo, schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: res.Server.ID}})
		case res.Type == "label_selector" && res.LabelSelector != nil:
			if _, err := parseSelector(res.LabelSelector.Selector); err != nil {
				return 0, nil, invalidInput("apply_to", err.Error())
			}
			fw.AppliedTo = append(fw.AppliedTo, schema.FirewallResource{Type: "label_selector", LabelSelector: &schema.FirewallResourceLabelSelector{Selector: res.LabelSelector.Selector}})
		default:
			return 0, nil, invalidInput("apply_to", "type must be server or label_selector")
		}
	}
	s.state.firewalls[fw.ID] = fw
	for _, srv := range s.state.firewallServers(fw) {
		a := s.state.startAction("apply_firewall", s.opts.ActionDuration, ref("firewall", fw.ID), ref("server", srv))
		actions = append(actions, a.Action)
	}
	return http.StatusCreated, schema.FirewallCreateResponse{Firewall: s.state.firewallView(fw), Actions: actions}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// firewallServers returns the servers a firewall applies to, directly or
// through a label selector, sorted.
func (st *state) firewallServers(fw *schema.Firewall) []int64 {
	set := map[int64]bool{}
	for _, res := range fw.AppliedTo {
		switch res.Type {
		case "server":
			set[res.Server.ID] = true
		case "label_selector":
			sel, _ := parseSelector(res.LabelSelector.Selector)
			for id, srv := range st.servers {
				if sel.matches(srv.Labels) {
					set[id] = true
				}
			}
		}
	}
	ids := make([]int64, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// firewallView fills in the servers a label selector currently matches.
func (st *state) firewallView(fw *schema.Firewall) schema.Firewall {
	out := *fw
	out.AppliedTo = make([]schema.FirewallResource, 0, len(fw.AppliedTo))
	for _, res := range fw.AppliedTo {
		if res.Type == "label_selector" {
			sel, _ := parseSelector(res.LabelSelector.Selector)
			res.AppliedToResources = []schema.FirewallResource{}
			for _, srv := range sortedServers(st.servers) {
				if sel.matches(srv.Labels) {
					res.AppliedToResources = append(res.AppliedToResources, schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: srv.ID}})
				}
			}
		}
		out.AppliedTo = append(out.AppliedTo, res)
	}
	return out
}

func (s *Sim) listFirewalls(r *http.Request) (int, any, *apiError) {
	fws, err := filter(r, s.state.firewalls,
		func(f *schema.Firewall) int64 { return f.ID },
		func(f *schema.Firewall) map[string]string { return f.Labels },
		func(f *schema.Firewall) string { return f.Name })
	if err != nil {
		return 0, nil, err
	}
	for i := range fws {
		fws[i] = s.state.firewallView(&fws[i])
	}
	return page(r, "firewalls", fws)
}

func (s *Sim) getFirewall(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	fw, ok := s.state.firewalls[id]
	if !ok {
		return 0, nil, notFound("firewall", id)
	}
	return http.StatusOK, schema.FirewallGetResponse{Firewall: s.state.firewallView(fw)}, nil
}

// deleteFirewall refuses, as the real API does, while the firewall still
// applies to a server.
func (s *Sim) deleteFirewall(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	fw, ok := s.state.firewalls[id]
	if !ok {
		return 0, nil, notFound("firewall", id)
	}
	if len(s.state.firewallServers(fw)) > 0 {
		return 0, nil, errorf("resource_in_use", "firewall %d is still applied to servers", id)
	}
	delete(s.state.firewalls, id)
	return http.StatusNoContent, nil, nil
}
