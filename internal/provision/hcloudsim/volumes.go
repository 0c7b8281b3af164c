package hcloudsim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// Volumes are block devices the cluster's workloads create through the
// Hetzner CSI driver. As with the real API, a volume attached to a server
// cannot be deleted ("detach it first"), and deleting a server detaches its
// volumes and keeps them.

func (s *Sim) createVolume(r *http.Request) (int, any, *apiError) {
	var req schema.VolumeCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	if req.Size < 10 {
		return 0, nil, invalidInput("size", "must be at least 10 GB")
	}
	for _, v := range s.state.volumes {
		if v.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "volume with the same name already exists")
		}
	}
	loc := locations["fsn1"]
	if req.Location != nil {
		var ok bool
		if loc, ok = findLocation(req.Location.Name); !ok {
			return 0, nil, invalidInput("location", "location not found")
		}
	}
	v := &schema.Volume{
		ID: s.state.newID(), Name: req.Name, Status: "available", Location: loc, Size: req.Size,
		Format: req.Format, Labels: labelsOf(req.Labels), Created: time.Now().UTC(),
	}
	v.LinuxDevice = "/dev/disk/by-id/scsi-0HC_Volume_" + itoa(v.ID)
	resp := schema.VolumeCreateResponse{NextActions: []schema.Action{}}
	if req.Server != nil {
		srv, ok := s.state.servers[*req.Server]
		if !ok {
			return 0, nil, invalidInput("server", "server not found")
		}
		v.Location = srv.Location
		s.attachVolume(v, srv)
		resp.NextActions = append(resp.NextActions, s.state.startAction("attach_volume", s.opts.ActionDuration, ref("volume", v.ID), ref("server", srv.ID)).Action)
	}
	s.state.volumes[v.ID] = v
	a := s.state.startAction("create_volume", s.opts.ActionDuration, ref("volume", v.ID))
	resp.Action = &a.Action
	resp.Volume = *v
	return http.StatusCreated, resp, nil
}

func (s *Sim) attachVolume(v *schema.Volume, srv *schema.Server) {
	id := srv.ID
	v.Server = &id
	srv.Volumes = append(srv.Volumes, v.ID)
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

func (s *Sim) listVolumes(r *http.Request) (int, any, *apiError) {
	vols, err := filter(r, s.state.volumes,
		func(v *schema.Volume) int64 { return v.ID },
		func(v *schema.Volume) map[string]string { return v.Labels },
		func(v *schema.Volume) string { return v.Name })
	if err != nil {
		return 0, nil, err
	}
	return page(r, "volumes", vols)
}

func (s *Sim) getVolume(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	v, ok := s.state.volumes[id]
	if !ok {
		return 0, nil, notFound("volume", id)
	}
	return http.StatusOK, schema.VolumeGetResponse{Volume: *v}, nil
}

// deleteVolume refuses while the volume is attached, as the real API does.
func (s *Sim) deleteVolume(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	v, ok := s.state.volumes[id]
	if !ok {
		return 0, nil, notFound("volume", id)
	}
	if v.Server != nil {
		return 0, nil, errorf("locked", "volume %d is attached to server %d; detach it first", id, *v.Server)
	}
	delete(s.state.volumes, id)
	return http.StatusNoContent, nil, nil
}

// detachVolume answers POST /volumes/{id}/actions/detach.
func (s *Sim) detachVolume(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	v, ok := s.state.volumes[id]
	if !ok {
		return 0, nil, notFound("volume", id)
	}
	var refs []schema.ActionResourceReference
	refs = append(refs, ref("volume", id))
	if v.Server != nil {
		if srv, ok := s.state.servers[*v.Server]; ok {
			srv.Volumes = without(srv.Volumes, id)
			refs = append(refs, ref("server", srv.ID))
		}
		v.Server = nil
	}
	a := s.state.startAction("detach_volume", s.opts.ActionDuration, refs...)
	return http.StatusCreated, schema.VolumeActionDetachVolumeResponse{Action: a.Action}, nil
}

// detachVolumesOf detaches every volume of a server that is being deleted.
func (st *state) detachVolumesOf(serverID int64) {
	for _, v := range st.volumes {
		if v.Server != nil && *v.Server == serverID {
			v.Server = nil
		}
	}
}
