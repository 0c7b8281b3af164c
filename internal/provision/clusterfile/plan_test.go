package clusterfile

import (
	"fmt"
	"strings"
	"testing"
)

// planLine writes a node on one line so that a whole plan reads as a table.
func planLine(n Node) string {
	var taints []string
	for _, t := range n.Taints {
		taints = append(taints, t.String())
	}
	extra := []string{}
	for _, k := range []string{"tier", LabelPlatform, LabelStandby} {
		if v, ok := n.Labels[k]; ok {
			extra = append(extra, k+"="+v)
		}
	}
	return fmt.Sprintf("%s %s pool=%s type=%s loc=%s addr=%s labels=%s taints=%s",
		n.Name, n.Role, n.Pool, n.ServerType, n.Location, n.Address, strings.Join(extra, ","), strings.Join(taints, ","))
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []string
	}{
		{"single node runs workloads", "  provider: {hetzner: {}}\n", []string{
			"acme-cp-1 control-plane pool=control-plane type=cpx21 loc=fsn1 addr= labels= taints=",
		}},
		{"HA spread over locations", "  provider: {hetzner: {locations: [fsn1, nbg1, hel1]}}\n  controlPlane: {count: 3}\n  pools: [{name: w, count: 4, labels: {tier: app}}]\n", []string{
			"acme-cp-1 control-plane pool=control-plane type=cpx21 loc=fsn1 addr= labels= taints=node-role.kubernetes.io/control-plane=true:NoSchedule",
			"acme-cp-2 control-plane pool=control-plane type=cpx21 loc=nbg1 addr= labels= taints=node-role.kubernetes.io/control-plane=true:NoSchedule",
			"acme-cp-3 control-plane pool=control-plane type=cpx21 loc=hel1 addr= labels= taints=node-role.kubernetes.io/control-plane=true:NoSchedule",
			"acme-w-1 worker pool=w type=cpx31 loc=fsn1 addr= labels=tier=app taints=",
			"acme-w-2 worker pool=w type=cpx31 loc=nbg1 addr= labels=tier=app taints=",
			"acme-w-3 worker pool=w type=cpx31 loc=hel1 addr= labels=tier=app taints=",
			"acme-w-4 worker pool=w type=cpx31 loc=fsn1 addr= labels=tier=app taints=",
		}},
		{"platform pool and standby", "  provider: {hetzner: {locations: [fsn1, nbg1]}}\n  pools:\n    - {name: platform, count: 2, serverType: cpx41, platform: true}\n    - {name: workers, count: 1}\n    - {name: empty, count: 0}\n  standby: 2\n", []string{
			"acme-cp-1 control-plane pool=control-plane type=cpx21 loc=fsn1 addr= labels= taints=node-role.kubernetes.io/control-plane=true:NoSchedule",
			"acme-platform-1 worker pool=platform type=cpx41 loc=fsn1 addr= labels=prosper.dev/platform=true taints=prosper.dev/platform=true:NoSchedule",
			"acme-platform-2 worker pool=platform type=cpx41 loc=nbg1 addr= labels=prosper.dev/platform=true taints=prosper.dev/platform=true:NoSchedule",
			"acme-workers-1 worker pool=workers type=cpx31 loc=fsn1 addr= labels= taints=",
			"acme-standby-1 standby pool=standby type=cpx31 loc=fsn1 addr= labels=prosper.dev/standby=true taints=prosper.dev/standby=true:NoSchedule",
			"acme-standby-2 standby pool=standby type=cpx31 loc=nbg1 addr= labels=prosper.dev/standby=true taints=prosper.dev/standby=true:NoSchedule",
		}},
		{"only a platform pool leaves the control plane schedulable", "  provider: {hetzner: {}}\n  pools: [{name: p, count: 1, platform: true}]\n", []string{
			"acme-cp-1 control-plane pool=control-plane type=cpx21 loc=fsn1 addr= labels= taints=",
			"acme-p-1 worker pool=p type=cpx31 loc=fsn1 addr= labels=prosper.dev/platform=true taints=prosper.dev/platform=true:NoSchedule",
		}},
		{"ssh hosts in list order, spares unused", "  provider:\n    ssh:\n      hosts:\n        - {address: 10.0.0.9, pool: w}\n        - {address: 10.0.0.1, pool: control-plane}\n        - {address: 10.0.0.7, pool: w}\n        - {address: 10.0.0.8, pool: w}\n        - {address: 10.0.0.2, pool: standby}\n  pools: [{name: w, count: 2}]\n  standby: 1\n", []string{
			"acme-cp-1 control-plane pool=control-plane type= loc= addr=10.0.0.1 labels= taints=node-role.kubernetes.io/control-plane=true:NoSchedule",
			"acme-w-1 worker pool=w type= loc= addr=10.0.0.9 labels= taints=",
			"acme-w-2 worker pool=w type= loc= addr=10.0.0.7 labels= taints=",
			"acme-standby-1 standby pool=standby type= loc= addr=10.0.0.2 labels=prosper.dev/standby=true taints=prosper.dev/standby=true:NoSchedule",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("cluster.yaml", []byte(header+"spec:\n"+tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			nodes := c.Plan()
			var got []string
			for _, n := range nodes {
				got = append(got, planLine(n))
				if n.Labels[LabelCluster] != "acme" || n.Labels[LabelPool] != n.Pool || n.Labels[LabelRole] != string(n.Role) {
					t.Errorf("%s: labels %v lack the cluster, pool or role", n.Name, n.Labels)
				}
			}
			if g, w := strings.Join(got, "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Errorf("plan:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// TestPlanStable checks that planning twice gives equal, independent results: a
// caller that edits one node's labels must not change the next plan.
func TestPlanStable(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Plan(), c.Plan()
	a[3].Labels["tier"] = "changed"
	a[6].Taints[0].Effect = "NoExecute"
	if b[3].Labels["tier"] != "app" || b[6].Taints[0].Effect != "NoSchedule" || c.Spec.Pools[0].Labels["tier"] != "app" {
		t.Error("plans share labels or taints")
	}
	if len(b) != 3+3+2+1 {
		t.Errorf("%d nodes, want 9", len(b))
	}
}
