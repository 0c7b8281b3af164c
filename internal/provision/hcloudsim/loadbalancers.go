package hcloudsim

import (
	"net/http"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// Load balancers are what the cluster's workloads create through the Hetzner
// cloud controller manager (a Service of type LoadBalancer). The simulator
// keeps what teardown needs: name, labels, location, type and targets.

// loadBalancerTypes are the load balancer types the simulator knows.
var loadBalancerTypes = map[string]schema.LoadBalancerType{
	"lb11": {ID: 1, Name: "lb11", Description: "LB11", MaxConnections: 10000, MaxServices: 5, MaxTargets: 25, MaxAssignedCertificates: 10, Prices: []schema.PricingLoadBalancerTypePrice{}},
	"lb21": {ID: 2, Name: "lb21", Description: "LB21", MaxConnections: 20000, MaxServices: 15, MaxTargets: 75, MaxAssignedCertificates: 25, Prices: []schema.PricingLoadBalancerTypePrice{}},
}

func (s *Sim) createLoadBalancer(r *http.Request) (int, any, *apiError) {
	var req schema.LoadBalancerCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	for _, lb := range s.state.loadBalancers {
		if lb.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "load balancer with the same name already exists")
		}
	}
	var typ schema.LoadBalancerType
	found := false
	for _, t := range loadBalancerTypes {
		if (req.LoadBalancerType.ID != 0 && t.ID == req.LoadBalancerType.ID) || t.Name == req.LoadBalancerType.Name {
			typ, found = t, true
		}
	}
	if !found {
		return 0, nil, invalidInput("load_balancer_type", "load balancer type not found")
	}
	loc := locations["fsn1"]
	if req.Location != nil {
		var ok bool
		if loc, ok = findLocation(*req.Location); !ok {
			return 0, nil, invalidInput("location", "location not found")
		}
	}
	algorithm := "round_robin"
	if req.Algorithm != nil {
		algorithm = req.Algorithm.Type
	}
	ip := s.state.publicIP()
	lb := &schema.LoadBalancer{
		ID: s.state.newID(), Name: req.Name, Location: loc, LoadBalancerType: typ,
		PublicNet: schema.LoadBalancerPublicNet{
			Enabled: true,
			IPv4:    schema.LoadBalancerPublicNetIPv4{IP: ip, DNSPtr: "static." + ip + ".clients.your-server.de"},
		},
		PrivateNet: []schema.LoadBalancerPrivateNet{}, Labels: labelsOf(req.Labels), Created: time.Now().UTC(),
		Services: []schema.LoadBalancerService{}, Targets: []schema.LoadBalancerTarget{},
		Algorithm: schema.LoadBalancerAlgorithm{Type: algorithm}, IncludedTraffic: 21990232555520,
	}
	for _, t := range req.Targets {
		if t.Type == "label_selector" && t.LabelSelector != nil {
			if _, err := parseSelector(t.LabelSelector.Selector); err != nil {
				return 0, nil, invalidInput("targets", err.Error())
			}
			lb.Targets = append(lb.Targets, schema.LoadBalancerTarget{Type: t.Type,
				LabelSelector: &schema.LoadBalancerTargetLabelSelector{Selector: t.LabelSelector.Selector}})
		}
	}
	s.state.loadBalancers[lb.ID] = lb
	a := s.state.startAction("create_load_balancer", s.opts.ActionDuration, ref("load_balancer", lb.ID))
	return http.StatusCreated, schema.LoadBalancerCreateResponse{LoadBalancer: *lb, Action: a.Action}, nil
}

func (s *Sim) listLoadBalancers(r *http.Request) (int, any, *apiError) {
	lbs, err := filter(r, s.state.loadBalancers,
		func(v *schema.LoadBalancer) int64 { return v.ID },
		func(v *schema.LoadBalancer) map[string]string { return v.Labels },
		func(v *schema.LoadBalancer) string { return v.Name })
	if err != nil {
		return 0, nil, err
	}
	return page(r, "load_balancers", lbs)
}

func (s *Sim) getLoadBalancer(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	lb, ok := s.state.loadBalancers[id]
	if !ok {
		return 0, nil, notFound("load_balancer", id)
	}
	return http.StatusOK, schema.LoadBalancerGetResponse{LoadBalancer: *lb}, nil
}

// deleteLoadBalancer deletes the load balancer and answers with its
// delete_load_balancer action, as the current API does.
func (s *Sim) deleteLoadBalancer(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := s.state.loadBalancers[id]; !ok {
		return 0, nil, notFound("load_balancer", id)
	}
	delete(s.state.loadBalancers, id)
	for _, n := range s.state.networks {
		n.LoadBalancers = without(n.LoadBalancers, id)
	}
	a := s.state.startAction("delete_load_balancer", s.opts.ActionDuration, ref("load_balancer", id))
	return http.StatusOK, schema.ActionGetResponse{Action: a.Action}, nil
}
