package hetzner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// Remove deletes the named servers of the cluster (found by its label and
// then by name) and waits until they are gone. Names it does not find are
// already gone.
func (pr *Provider) Remove(ctx context.Context, c clusterfile.Cluster, names []string, p *provision.Progress) error {
	srvs, err := pr.servers(ctx, p, c)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var doomed []*hcloud.Server
	for _, s := range srvs {
		if want[s.Name] {
			doomed = append(doomed, s)
		}
	}
	return pr.deleteServers(ctx, p, doomed)
}

// deleteServers deletes servers in parallel and waits for the delete
// actions.
func (pr *Provider) deleteServers(ctx context.Context, p *provision.Progress, srvs []*hcloud.Server) error {
	var mu sync.Mutex
	actions := map[int64]string{}
	var errs []error
	forEach(ctx, srvs, pr.opts.Parallel, func(s *hcloud.Server) {
		var res *hcloud.ServerDeleteResult
		err := pr.do(ctx, p, s.Name, func() (*hcloud.Response, error) {
			var resp *hcloud.Response
			var err error
			res, resp, err = pr.client.Server.DeleteWithResult(ctx, s)
			return resp, err
		})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case hcloud.IsError(err, hcloud.ErrorCodeNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("delete server %s: %w", s.Name, err))
		default:
			report(p, s.Name, "deleting server")
			actions[res.Action.ID] = s.Name
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pr.waitActions(ctx, p, actions, func(name string, a *hcloud.Action) {
		if a.Status == hcloud.ActionStatusError && a.ErrorCode != "not_found" {
			errs = append(errs, fmt.Errorf("delete server %s: %w", name, a.Error()))
			return
		}
		report(p, name, "server deleted")
	})
	if err != nil {
		return err
	}
	return joinErrs(errs)
}

// Delete deletes everything labelled as the cluster's, in the order the API
// allows: servers (which detaches volumes and frees the placement groups,
// firewall and network), load balancers and volumes, placement groups, the
// firewall, the network, SSH keys and snapshots. It never touches a resource
// without the label, and a second Delete finds nothing and succeeds.
//
// Load balancers and volumes are created by the cluster's workloads, not by
// prosper: the Hetzner cloud controller manager and CSI driver that prosper
// installs are configured to label theirs with LabelCluster (the CSI
// driver's StorageClass "labels" parameter; load balancers through the
// controller's configured labels), so the same selector finds them. A load
// balancer or volume created without the label is not the cluster's as far as
// Delete can tell, and is left.
func (pr *Provider) Delete(ctx context.Context, c clusterfile.Cluster, p *provision.Progress) error {
	name := c.Metadata.Name
	sel := clusterSelector(c)
	srvs, err := pr.servers(ctx, p, c)
	if err != nil {
		return err
	}
	if err := pr.deleteServers(ctx, p, srvs); err != nil {
		return err
	}
	lbs, err := listAll(ctx, pr, p, name, func(o hcloud.ListOpts) ([]*hcloud.LoadBalancer, *hcloud.Response, error) {
		return pr.client.LoadBalancer.List(ctx, hcloud.LoadBalancerListOpts{ListOpts: o})
	}, sel)
	if err != nil {
		return err
	}
	lbActions := map[int64]string{}
	for _, lb := range lbs {
		if err := pr.deleteOne(ctx, p, name, "load balancer", lb.Name, func() (*hcloud.Response, error) {
			res, resp, err := pr.client.LoadBalancer.DeleteWithResult(ctx, lb)
			if err == nil && res.Action != nil {
				lbActions[res.Action.ID] = name
			}
			return resp, err
		}); err != nil {
			return err
		}
	}
	if err := pr.waitActions(ctx, p, lbActions, nil); err != nil {
		return err
	}
	vols, err := listAll(ctx, pr, p, name, func(o hcloud.ListOpts) ([]*hcloud.Volume, *hcloud.Response, error) {
		return pr.client.Volume.List(ctx, hcloud.VolumeListOpts{ListOpts: o})
	}, sel)
	if err != nil {
		return err
	}
	for _, v := range vols {
		if v.Server != nil {
			// Attached to a server that is not the cluster's (its own are
			// gone): the API refuses to delete an attached volume.
			var a *hcloud.Action
			if err := pr.do(ctx, p, name, func() (*hcloud.Response, error) {
				var resp *hcloud.Response
				var err error
				a, resp, err = pr.client.Volume.Detach(ctx, v)
				return resp, err
			}); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
				return fmt.Errorf("detach volume %s: %w", v.Name, err)
			}
			if a != nil {
				if err := pr.waitActions(ctx, p, map[int64]string{a.ID: name}, nil); err != nil {
					return err
				}
			}
		}
		if err := pr.deleteOne(ctx, p, name, "volume", v.Name, func() (*hcloud.Response, error) { return pr.client.Volume.Delete(ctx, v) }); err != nil {
			return err
		}
	}
	inv, err := pr.inventory(ctx, p, clusterWithoutSnapshot(c))
	if err != nil {
		return err
	}
	for _, pg := range inv.groups {
		if err := pr.deleteOne(ctx, p, name, "placement group", pg.Name, func() (*hcloud.Response, error) { return pr.client.PlacementGroup.Delete(ctx, pg) }); err != nil {
			return err
		}
	}
	if fw := inv.firewall; fw != nil {
		if err := pr.deleteOne(ctx, p, name, "firewall", fw.Name, func() (*hcloud.Response, error) { return pr.client.Firewall.Delete(ctx, fw) }); err != nil {
			if hcloud.IsError(err, hcloud.ErrorCodeResourceInUse) {
				return fmt.Errorf("%w: the firewall is applied to servers that are not the cluster's; remove it from them in the console", err)
			}
			return err
		}
	}
	if n := inv.network; n != nil {
		if err := pr.deleteOne(ctx, p, name, "network", n.Name, func() (*hcloud.Response, error) { return pr.client.Network.Delete(ctx, n) }); err != nil {
			return err
		}
	}
	for _, k := range inv.keys {
		if err := pr.deleteOne(ctx, p, name, "ssh key", k.Name, func() (*hcloud.Response, error) { return pr.client.SSHKey.Delete(ctx, k) }); err != nil {
			return err
		}
	}
	imgs, err := pr.snapshots(ctx, p, c, "")
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if err := pr.deleteOne(ctx, p, name, "snapshot", img.Description, func() (*hcloud.Response, error) { return pr.client.Image.Delete(ctx, img) }); err != nil {
			return err
		}
	}
	return nil
}

// clusterWithoutSnapshot keeps inventory from looking for a snapshot to boot
// from, which Delete does not need.
func clusterWithoutSnapshot(c clusterfile.Cluster) clusterfile.Cluster {
	if h := c.Spec.Provider.Hetzner; h != nil {
		hh := *h
		hh.Snapshot = false
		c.Spec.Provider.Hetzner = &hh
	}
	return c
}

// deleteOne deletes one resource; one that is already gone is fine.
func (pr *Provider) deleteOne(ctx context.Context, p *provision.Progress, subject, kind, name string, del func() (*hcloud.Response, error)) error {
	err := pr.do(ctx, p, subject, del)
	if err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		return fmt.Errorf("delete %s %s: %w", kind, name, err)
	}
	report(p, subject, "%s %s deleted", kind, name)
	return nil
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
