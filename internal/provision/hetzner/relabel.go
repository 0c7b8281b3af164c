package hetzner

import (
	"context"
	"fmt"
	"maps"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

var _ provision.Relabeler = (*Provider)(nil)

// SetPool moves the cluster's server machine into pool in its labels
// (clusterfile.LabelPool, and LabelRole=worker), so that the next run counts a
// promoted standby node in its new pool. The server is found by the
// cluster's label and its name, in one call; its other labels are kept. A
// server already labelled so is left alone, so a re-run makes no call but
// the lookup.
func (pr *Provider) SetPool(ctx context.Context, c clusterfile.Cluster, machine, pool string) error {
	var srvs []*hcloud.Server
	err := pr.do(ctx, nil, machine, func() (*hcloud.Response, error) {
		var resp *hcloud.Response
		var err error
		srvs, resp, err = pr.client.Server.List(ctx, hcloud.ServerListOpts{
			ListOpts: hcloud.ListOpts{LabelSelector: clusterSelector(c)}, Name: machine,
		})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("set pool of %s: %w", machine, err)
	}
	if len(srvs) == 0 {
		return fmt.Errorf("set pool of %s: the cluster has no server %s", machine, machine)
	}
	s := srvs[0]
	labels := maps.Clone(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[clusterfile.LabelPool] = labelValue(pool)
	labels[clusterfile.LabelRole] = labelValue(string(clusterfile.RoleWorker))
	if maps.Equal(labels, s.Labels) {
		return nil
	}
	err = pr.do(ctx, nil, machine, func() (*hcloud.Response, error) {
		_, resp, err := pr.client.Server.Update(ctx, s, hcloud.ServerUpdateOpts{Labels: labels})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("set pool of %s: %w", machine, err)
	}
	return nil
}
