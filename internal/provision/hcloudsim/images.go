package hcloudsim

import (
	"net/http"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

func (s *Sim) listImages(r *http.Request) (int, any, *apiError) {
	imgs, err := filter(r, s.state.images,
		func(i *schema.Image) int64 { return i.ID },
		func(i *schema.Image) map[string]string { return i.Labels },
		func(i *schema.Image) string { return deref(i.Name) })
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	var out []schema.Image
	for _, img := range imgs {
		if (len(q["type"]) == 0 || contains(q["type"], img.Type)) &&
			(len(q["status"]) == 0 || contains(q["status"], img.Status)) &&
			(len(q["architecture"]) == 0 || contains(q["architecture"], img.Architecture)) {
			out = append(out, img)
		}
	}
	return page(r, "images", out)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (s *Sim) getImage(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	img, ok := s.state.images[id]
	if !ok {
		return 0, nil, notFound("image", id)
	}
	return http.StatusOK, schema.ImageGetResponse{Image: *img}, nil
}

func (s *Sim) deleteImage(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	img, ok := s.state.images[id]
	if !ok {
		return 0, nil, notFound("image", id)
	}
	if img.Type == "system" || img.Type == "app" {
		return 0, nil, errorf("forbidden", "system images cannot be deleted")
	}
	delete(s.state.images, id)
	return http.StatusNoContent, nil, nil
}

// createImage answers POST /servers/{id}/actions/create_image: a snapshot
// (or backup) that stays "creating" until its action finishes.
func (s *Sim) createImage(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	var req schema.ServerActionCreateImageRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	srv, ok := s.state.servers[id]
	if !ok {
		return 0, nil, notFound("server", id)
	}
	typ := "snapshot"
	if req.Type != nil {
		typ = *req.Type
	}
	if typ != "snapshot" && typ != "backup" {
		return 0, nil, invalidInput("type", "must be snapshot or backup")
	}
	now := time.Now().UTC()
	size := float32(1.2)
	img := &schema.Image{
		ID: s.state.newID(), Status: "creating", Type: typ, Description: deref(req.Description),
		ImageSize: &size, DiskSize: float32(srv.ServerType.Disk), Created: &now,
		CreatedFrom: &schema.ImageCreatedFrom{ID: srv.ID, Name: srv.Name}, Labels: labelsOf(req.Labels),
		Architecture: srv.ServerType.Architecture, Protection: schema.ImageProtection{},
	}
	if srv.Image != nil {
		img.OSFlavor, img.OSVersion = srv.Image.OSFlavor, srv.Image.OSVersion
	}
	s.state.images[img.ID] = img
	a := s.state.startAction("create_image", s.opts.ActionDuration, ref("server", srv.ID), ref("image", img.ID))
	a.done = func(success bool) {
		if success {
			img.Status = "available"
		}
	}
	return http.StatusCreated, schema.ServerActionCreateImageResponse{Action: a.Action, Image: *img}, nil
}
