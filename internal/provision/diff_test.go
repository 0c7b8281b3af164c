package provision

import (
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
)

func parseCluster(t *testing.T, spec string) clusterfile.Cluster {
	t.Helper()
	c, err := clusterfile.Parse("cluster.yaml", []byte("apiVersion: prosper.dev/v1alpha1\nkind: Cluster\nmetadata: {name: acme}\nspec:\n"+spec))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func machines(pools ...string) []Machine {
	var ms []Machine
	for _, p := range pools {
		name, pool, _ := strings.Cut(p, "@")
		ms = append(ms, Machine{Name: name, Labels: map[string]string{clusterfile.LabelPool: pool}})
	}
	return ms
}

func names(nodes []clusterfile.Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name)
	}
	return strings.Join(s, " ")
}

func TestDiff(t *testing.T) {
	spec := "  provider: {hetzner: {locations: [fsn1]}}\n  pools: [{name: w, count: 3}]\n  standby: 1\n"
	tests := []struct {
		name            string
		spec            string
		have            []Machine
		promote, remove bool
		nodes, add      string
		promoted        string
		removed         string
		err             string
	}{
		{name: "fresh cluster gets the plan's names", spec: spec,
			nodes: "acme-cp-1 acme-w-1 acme-w-2 acme-w-3 acme-standby-1", add: "acme-cp-1 acme-w-1 acme-w-2 acme-w-3 acme-standby-1"},
		{name: "re-run after a failure adds only what is missing", spec: spec,
			have:  machines("acme-cp-1@control-plane", "acme-w-2@w"),
			nodes: "acme-cp-1 acme-w-2 acme-w-1 acme-w-3 acme-standby-1", add: "acme-w-1 acme-w-3 acme-standby-1"},
		{name: "nothing to do", spec: spec,
			have:  machines("acme-cp-1@control-plane", "acme-w-1@w", "acme-w-2@w", "acme-w-3@w", "acme-standby-1@standby"),
			nodes: "acme-cp-1 acme-w-1 acme-w-2 acme-w-3 acme-standby-1"},
		{name: "a short pool takes the standby node, a new standby is booted", spec: spec, promote: true,
			have:  machines("acme-cp-1@control-plane", "acme-w-1@w", "acme-w-2@w", "acme-standby-1@standby"),
			nodes: "acme-cp-1 acme-w-1 acme-w-2 acme-standby-1 acme-standby-2", add: "acme-standby-2",
			promoted: "acme-standby-1"},
		{name: "a promoted node keeps its name and counts in its pool", spec: spec,
			have:  machines("acme-cp-1@control-plane", "acme-w-1@w", "acme-w-2@w", "acme-standby-1@w", "acme-standby-2@standby"),
			nodes: "acme-cp-1 acme-w-1 acme-w-2 acme-standby-1 acme-standby-2"},
		{name: "without promotion a short pool boots a node", spec: spec,
			have:  machines("acme-cp-1@control-plane", "acme-w-1@w", "acme-w-2@w", "acme-standby-1@standby"),
			nodes: "acme-cp-1 acme-w-1 acme-w-2 acme-w-3 acme-standby-1", add: "acme-w-3"},
		{name: "scale down removes the highest index", spec: "  provider: {hetzner: {}}\n  pools: [{name: w, count: 1}]\n", remove: true,
			have:  machines("acme-cp-1@control-plane", "acme-w-10@w", "acme-w-2@w", "acme-w-1@w"),
			nodes: "acme-cp-1 acme-w-1", removed: "acme-w-2 acme-w-10"},
		{name: "create never removes", spec: "  provider: {hetzner: {}}\n  pools: [{name: w, count: 1}]\n",
			have: machines("acme-cp-1@control-plane", "acme-w-1@w", "acme-w-2@w"),
			err:  `run "prosper cluster scale" to remove acme-w-2`},
		{name: "a pool dropped from the file is removed by scale", spec: "  provider: {hetzner: {}}\n", remove: true,
			have:  machines("acme-cp-1@control-plane", "acme-old-1@old"),
			nodes: "acme-cp-1", removed: "acme-old-1"},
		{name: "control planes never shrink", spec: "  provider: {hetzner: {}}\n", remove: true,
			have: machines("acme-cp-1@control-plane", "acme-cp-2@control-plane", "acme-cp-3@control-plane"),
			err:  "etcd would lose quorum"},
		{name: "one control plane grows to three", spec: "  provider: {hetzner: {}}\n  controlPlane: {count: 3}\n",
			have:  machines("acme-cp-1@control-plane"),
			nodes: "acme-cp-1 acme-cp-2 acme-cp-3", add: "acme-cp-2 acme-cp-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := Diff(parseCluster(t, tt.spec), tt.have, tt.promote, tt.remove)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var promoted, removed []string
			for _, p := range ch.Promote {
				promoted = append(promoted, p.Node.Name)
				if p.Node.Pool != "w" || p.From.Pool != clusterfile.PoolStandby || p.Node.Labels[clusterfile.LabelStandby] != "" {
					t.Errorf("promotion %+v", p)
				}
			}
			for _, m := range ch.Remove {
				removed = append(removed, m.Name)
			}
			if got := names(ch.Nodes); got != tt.nodes {
				t.Errorf("nodes %q, want %q", got, tt.nodes)
			}
			if got := names(ch.Add); got != tt.add {
				t.Errorf("add %q, want %q", got, tt.add)
			}
			if got := strings.Join(promoted, " "); got != tt.promoted {
				t.Errorf("promoted %q, want %q", got, tt.promoted)
			}
			if got := strings.Join(removed, " "); got != tt.removed {
				t.Errorf("removed %q, want %q", got, tt.removed)
			}
		})
	}
}
