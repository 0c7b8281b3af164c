package hetzner

import (
	"context"
	"fmt"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Snapshot makes an image of the cluster's server machine, labelled with the
// cluster and its k3s version (LabelK3sVersion), and waits until it is
// available; later Ensures boot new servers from the newest one when
// spec.provider.hetzner.snapshot is set. A snapshot of that version that
// already exists is kept and none is made.
func (pr *Provider) Snapshot(ctx context.Context, c clusterfile.Cluster, machine string, p *provision.Progress) error {
	existing, err := pr.snapshots(ctx, p, c, c.Spec.K3s.Version)
	if err != nil {
		return err
	}
	for _, img := range existing {
		if img.Status == hcloud.ImageStatusAvailable {
			report(p, machine, "snapshot %d of k3s %s exists: kept", img.ID, c.Spec.K3s.Version)
			return nil
		}
	}
	srvs, err := pr.servers(ctx, p, c)
	if err != nil {
		return err
	}
	var srv *hcloud.Server
	for _, s := range srvs {
		if s.Name == machine {
			srv = s
		}
	}
	if srv == nil {
		return fmt.Errorf("snapshot: the cluster has no server %s", machine)
	}
	labels := clusterLabels(c)
	labels[LabelK3sVersion] = labelValue(c.Spec.K3s.Version)
	desc := fmt.Sprintf("%s k3s %s", c.Metadata.Name, c.Spec.K3s.Version)
	var res hcloud.ServerCreateImageResult
	err = pr.do(ctx, p, machine, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		res, resp, err = pr.client.Server.CreateImage(ctx, srv, &hcloud.ServerCreateImageOpts{
			Type: hcloud.ImageTypeSnapshot, Description: &desc, Labels: labels,
		})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", machine, err)
	}
	report(p, machine, "snapshotting (image %d)", res.Image.ID)
	var failed error
	if err := pr.waitActions(ctx, p, map[int64]string{res.Action.ID: machine}, func(_ string, a *hcloud.Action) {
		if a.Status == hcloud.ActionStatusError {
			failed = a.Error()
		}
	}); err != nil {
		return err
	}
	if failed != nil {
		return fmt.Errorf("snapshot %s: %w", machine, failed)
	}
	report(p, machine, "snapshot %d of k3s %s ready", res.Image.ID, c.Spec.K3s.Version)
	return nil
}
