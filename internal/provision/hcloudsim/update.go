package hcloudsim

import (
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// Label rules of the real API (docs.hetzner.cloud, "Labels"): a key is an
// optional DNS subdomain prefix of at most 253 characters and a slash, then a
// name of 1-63 characters that begins and ends with an alphanumeric and holds
// '-', '_' and '.' in between; a value is empty or the same as a name. The
// prefix hetzner.cloud/ is reserved.
var (
	labelName   = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$`)
	labelPrefix = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// validateLabels checks labels as the real API does and returns its
// invalid_input error on the labels field.
func validateLabels(labels map[string]string) *apiError {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if prefix, n, ok := strings.Cut(k, "/"); ok {
			if len(prefix) > 253 || !labelPrefix.MatchString(prefix) {
				return invalidInput("labels", "label key "+k+": the prefix must be a DNS subdomain")
			}
			if prefix == "hetzner.cloud" {
				return invalidInput("labels", "label key "+k+": the prefix hetzner.cloud/ is reserved")
			}
			name = n
		}
		if !labelName.MatchString(name) {
			return invalidInput("labels", "label key "+k+": must be 1-63 characters, alphanumerics and '-', '_', '.' between alphanumerics")
		}
		if v := labels[k]; v != "" && !labelName.MatchString(v) {
			return invalidInput("labels", "label value "+v+" of "+k+": must be empty or 1-63 characters, alphanumerics and '-', '_', '.' between alphanumerics")
		}
	}
	return nil
}

// updateServer answers PUT /servers/{id}: a new name and/or labels, which
// replace all of the server's labels, as with the real API.
func (s *Sim) updateServer(r *http.Request) (int, any, *apiError) {
	id, aerr := pathID(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req schema.ServerUpdateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	srv, ok := s.state.servers[id]
	if !ok {
		return 0, nil, notFound("server", id)
	}
	if req.Name != "" && req.Name != srv.Name {
		if !hostname.MatchString(req.Name) {
			return 0, nil, invalidInput("name", "must be a valid hostname")
		}
		for _, other := range s.state.servers {
			if other.Name == req.Name {
				return 0, nil, errorf("uniqueness_error", "server name is already used")
			}
		}
		if s.state.creating[req.Name] {
			return 0, nil, errorf("uniqueness_error", "server name is already used")
		}
	}
	if req.Labels != nil {
		if err := validateLabels(*req.Labels); err != nil {
			return 0, nil, err
		}
	}
	if req.Name != "" {
		srv.Name = req.Name
	}
	if req.Labels != nil {
		srv.Labels = labelsOf(req.Labels)
	}
	return http.StatusOK, schema.ServerUpdateResponse{Server: s.state.serverView(srv)}, nil
}

// firewallRulesOf checks a request's rules as the real API does and returns
// them as the firewall holds them.
func firewallRulesOf(rules []schema.FirewallRuleRequest) ([]schema.FirewallRule, *apiError) {
	out := []schema.FirewallRule{}
	for _, rule := range rules {
		if rule.Direction != "in" && rule.Direction != "out" {
			return nil, invalidInput("rules", "direction must be in or out")
		}
		switch rule.Protocol {
		case "tcp", "udp":
			if rule.Port == nil || *rule.Port == "" {
				return nil, invalidInput("rules", "port is required for tcp and udp")
			}
		case "icmp", "esp", "gre":
			if rule.Port != nil {
				return nil, invalidInput("rules", "port is only allowed for tcp and udp")
			}
		default:
			return nil, invalidInput("rules", "protocol must be tcp, udp, icmp, esp or gre")
		}
		if rule.Direction == "in" && len(rule.SourceIPs) == 0 {
			return nil, invalidInput("rules", "source_ips is required for inbound rules")
		}
		if rule.Direction == "out" && len(rule.DestinationIPs) == 0 {
			return nil, invalidInput("rules", "destination_ips is required for outbound rules")
		}
		out = append(out, schema.FirewallRule{
			Direction: rule.Direction, SourceIPs: nonNil(rule.SourceIPs), DestinationIPs: nonNil(rule.DestinationIPs),
			Protocol: rule.Protocol, Port: rule.Port, Description: rule.Description,
		})
	}
	return out, nil
}

// setFirewallRules answers POST /firewalls/{id}/actions/set_rules: the rules
// replace the firewall's, and every server it applies to gets a running
// set_firewall_rules action.
func (s *Sim) setFirewallRules(r *http.Request) (int, any, *apiError) {
	id, aerr := pathID(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	var req schema.FirewallActionSetRulesRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	fw, ok := s.state.firewalls[id]
	if !ok {
		return 0, nil, notFound("firewall", id)
	}
	rules, err := firewallRulesOf(req.Rules)
	if err != nil {
		return 0, nil, err
	}
	fw.Rules = rules
	actions := []schema.Action{}
	for _, srv := range s.state.firewallServers(fw) {
		a := s.state.startAction("set_firewall_rules", s.opts.ActionDuration, ref("firewall", fw.ID), ref("server", srv))
		actions = append(actions, a.Action)
	}
	return http.StatusCreated, schema.FirewallActionSetRulesResponse{Actions: actions}, nil
}
