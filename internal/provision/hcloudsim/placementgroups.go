package hcloudsim

import (
	"net/http"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// spreadLimit is how many servers the real API puts in one spread group.
const spreadLimit = 10

func (s *Sim) createPlacementGroup(r *http.Request) (int, any, *apiError) {
	var req schema.PlacementGroupCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	if req.Type != "spread" {
		return 0, nil, invalidInput("type", "must be spread")
	}
	for _, pg := range s.state.placementGroups {
		if pg.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "placement group with the same name already exists")
		}
	}
	pg := &schema.PlacementGroup{
		ID: s.state.newID(), Name: req.Name, Labels: labelsOf(req.Labels), Created: time.Now().UTC(),
		Servers: []int64{}, Type: req.Type,
	}
	s.state.placementGroups[pg.ID] = pg
	return http.StatusCreated, schema.PlacementGroupCreateResponse{PlacementGroup: *pg}, nil
}

func (s *Sim) listPlacementGroups(r *http.Request) (int, any, *apiError) {
	pgs, err := filter(r, s.state.placementGroups,
		func(p *schema.PlacementGroup) int64 { return p.ID },
		func(p *schema.PlacementGroup) map[string]string { return p.Labels },
		func(p *schema.PlacementGroup) string { return p.Name })
	if err != nil {
		return 0, nil, err
	}
	return page(r, "placement_groups", pgs)
}

func (s *Sim) getPlacementGroup(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	pg, ok := s.state.placementGroups[id]
	if !ok {
		return 0, nil, notFound("placement_group", id)
	}
	return http.StatusOK, schema.PlacementGroupGetResponse{PlacementGroup: *pg}, nil
}

func (s *Sim) deletePlacementGroup(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	pg, ok := s.state.placementGroups[id]
	if !ok {
		return 0, nil, notFound("placement_group", id)
	}
	if len(pg.Servers) > 0 {
		return 0, nil, errorf("resource_in_use", "placement group %d still has servers", id)
	}
	delete(s.state.placementGroups, id)
	return http.StatusNoContent, nil, nil
}
