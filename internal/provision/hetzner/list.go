package hetzner

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

// perPage is the API's largest page: a 500-node cluster is listed in 10 calls.
const perPage = 50

// listAll pages through a list call, each page through do.
func listAll[T any](ctx context.Context, pr *Provider, p *provision.Progress, subject string,
	list func(hcloud.ListOpts) ([]T, *hcloud.Response, error), selector string) ([]T, error) {
	var all []T
	for page := 1; ; page++ {
		var items []T
		var resp *hcloud.Response
		err := pr.do(ctx, p, subject, func() (*hcloud.Response, error) {
			var err error
			items, resp, err = list(hcloud.ListOpts{Page: page, PerPage: perPage, LabelSelector: selector})
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if resp == nil || resp.Meta.Pagination == nil || resp.Meta.Pagination.NextPage == 0 {
			return all, nil
		}
	}
}

// inventory is what of the cluster exists in the project: only resources
// that carry its label.
type inventory struct {
	mu       sync.Mutex // guards groups while they are created in parallel
	keys     []*hcloud.SSHKey
	network  *hcloud.Network
	firewall *hcloud.Firewall
	groups   map[string]*hcloud.PlacementGroup
	servers  map[string]*hcloud.Server
	// snapshot is the newest available snapshot of the cluster's k3s
	// version, when the file asks for snapshots and there is one.
	snapshot *hcloud.Image
}

// inventory lists the cluster's resources: one call per kind (per 50).
func (pr *Provider) inventory(ctx context.Context, p *provision.Progress, c clusterfile.Cluster) (*inventory, error) {
	sel := clusterSelector(c)
	subject := c.Metadata.Name
	inv := &inventory{groups: map[string]*hcloud.PlacementGroup{}, servers: map[string]*hcloud.Server{}}
	// The lists are independent: run them at once, which takes one call's
	// latency instead of five.
	var (
		wg                        sync.WaitGroup
		nets                      []*hcloud.Network
		fws                       []*hcloud.Firewall
		pgs                       []*hcloud.PlacementGroup
		srvs                      []*hcloud.Server
		errKeys, errNets, errFws  error
		errPgs, errSrvs, errSnaps error
	)
	wg.Go(func() {
		inv.keys, errKeys = listAll(ctx, pr, p, subject, func(o hcloud.ListOpts) ([]*hcloud.SSHKey, *hcloud.Response, error) {
			return pr.client.SSHKey.List(ctx, hcloud.SSHKeyListOpts{ListOpts: o})
		}, sel)
	})
	wg.Go(func() {
		nets, errNets = listAll(ctx, pr, p, subject, func(o hcloud.ListOpts) ([]*hcloud.Network, *hcloud.Response, error) {
			return pr.client.Network.List(ctx, hcloud.NetworkListOpts{ListOpts: o})
		}, sel)
	})
	wg.Go(func() {
		fws, errFws = listAll(ctx, pr, p, subject, func(o hcloud.ListOpts) ([]*hcloud.Firewall, *hcloud.Response, error) {
			return pr.client.Firewall.List(ctx, hcloud.FirewallListOpts{ListOpts: o})
		}, sel)
	})
	wg.Go(func() {
		pgs, errPgs = listAll(ctx, pr, p, subject, func(o hcloud.ListOpts) ([]*hcloud.PlacementGroup, *hcloud.Response, error) {
			return pr.client.PlacementGroup.List(ctx, hcloud.PlacementGroupListOpts{ListOpts: o})
		}, sel)
	})
	wg.Go(func() { srvs, errSrvs = pr.servers(ctx, p, c) })
	if h := c.Spec.Provider.Hetzner; h != nil && h.Snapshot {
		wg.Go(func() { inv.snapshot, errSnaps = pr.newestSnapshot(ctx, p, c) })
	}
	wg.Wait()
	if err := errors.Join(errKeys, errNets, errFws, errPgs, errSrvs, errSnaps); err != nil {
		return nil, err
	}
	if len(nets) > 0 {
		inv.network = nets[0]
	}
	if len(fws) > 0 {
		inv.firewall = fws[0]
	}
	for _, pg := range pgs {
		inv.groups[pg.Name] = pg
	}
	for _, s := range srvs {
		inv.servers[s.Name] = s
	}
	return inv, nil
}

// servers lists the cluster's servers.
func (pr *Provider) servers(ctx context.Context, p *provision.Progress, c clusterfile.Cluster) ([]*hcloud.Server, error) {
	return listAll(ctx, pr, p, c.Metadata.Name, func(o hcloud.ListOpts) ([]*hcloud.Server, *hcloud.Response, error) {
		return pr.client.Server.List(ctx, hcloud.ServerListOpts{ListOpts: o})
	}, clusterSelector(c))
}

// snapshots lists the cluster's snapshots; with version set, only those of
// that k3s version.
func (pr *Provider) snapshots(ctx context.Context, p *provision.Progress, c clusterfile.Cluster, version string) ([]*hcloud.Image, error) {
	sel := clusterSelector(c)
	if version != "" {
		sel += "," + LabelK3sVersion + "=" + labelValue(version)
	}
	return listAll(ctx, pr, p, c.Metadata.Name, func(o hcloud.ListOpts) ([]*hcloud.Image, *hcloud.Response, error) {
		return pr.client.Image.List(ctx, hcloud.ImageListOpts{ListOpts: o, Type: []hcloud.ImageType{hcloud.ImageTypeSnapshot}})
	}, sel)
}

// newestSnapshot returns the newest available snapshot of the cluster's k3s
// version, or nil.
func (pr *Provider) newestSnapshot(ctx context.Context, p *provision.Progress, c clusterfile.Cluster) (*hcloud.Image, error) {
	imgs, err := pr.snapshots(ctx, p, c, c.Spec.K3s.Version)
	if err != nil {
		return nil, err
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created.After(imgs[j].Created) })
	for _, img := range imgs {
		if img.Status == hcloud.ImageStatusAvailable {
			return img, nil
		}
	}
	return nil, nil
}

// waitActions polls the running actions, all of them in one call per
// interval (per 50 actions, the API's page size), until each has finished,
// and calls done for each as it finishes. subjects names each action's node
// for progress.
func (pr *Provider) waitActions(ctx context.Context, p *provision.Progress, subjects map[int64]string, done func(subject string, a *hcloud.Action)) error {
	running := make(map[int64]string, len(subjects))
	for id, s := range subjects {
		running[id] = s
	}
	for len(running) > 0 {
		if err := sleep(ctx, pr.opts.PollInterval); err != nil {
			return err
		}
		ids := make([]int64, 0, len(running))
		for id := range running {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for start := 0; start < len(ids); start += perPage {
			chunk := ids[start:min(start+perPage, len(ids))]
			var acts []*hcloud.Action
			err := pr.do(ctx, p, "actions", func() (*hcloud.Response, error) {
				var resp *hcloud.Response
				var err error
				acts, resp, err = pr.client.Action.List(ctx, hcloud.ActionListOpts{ID: chunk, ListOpts: hcloud.ListOpts{PerPage: perPage}})
				return resp, err
			})
			if err != nil {
				return err
			}
			seen := map[int64]bool{}
			for _, a := range acts {
				seen[a.ID] = true
				if a.Status != hcloud.ActionStatusRunning {
					if done != nil {
						done(running[a.ID], a)
					}
					delete(running, a.ID)
				}
			}
			// An action the API no longer knows would be polled forever.
			for _, id := range chunk {
				if !seen[id] {
					if done != nil {
						done(running[id], &hcloud.Action{ID: id, Status: hcloud.ActionStatusError, ErrorCode: "not_found", ErrorMessage: "action not found", Finished: time.Now()})
					}
					delete(running, id)
				}
			}
		}
	}
	return nil
}
