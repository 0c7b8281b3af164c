package hetzner

import (
	"context"
	"strings"
	"testing"

	"github.com/prosperhq/prosper/internal/provision"
	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
)

func TestRemoveDeletesOnlyTheNamedServers(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 2)
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	for range 2 { // the second time there is nothing left to remove
		out, err := run(t, func(p *provision.Progress) error {
			return pr.Remove(context.Background(), c, []string{"acme-workers-2", "acme-workers-9"}, p)
		})
		if err != nil {
			t.Fatalf("remove: %v\n%s", err, out)
		}
	}
	ms, err := pr.Machines(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "acme-cp-1,acme-workers-1" {
		t.Errorf("machines after remove: %v", names)
	}
	if n := sim.Calls()["DELETE /servers/{id}"]; n != 1 {
		t.Errorf("DELETE /servers called %d times, want 1", n)
	}
}

func TestEnsureRetriesTransientErrorsAndExplainsPermanentOnes(t *testing.T) {
	sim := startSim(t, hcloudsim.Options{})
	for _, f := range []hcloudsim.Fault{
		{Route: "POST /networks", Nth: 1, Code: "conflict"},
		{Route: "POST /servers", Nth: 1, Code: "server_error"},
		{Route: "POST /servers", Nth: 2, Code: "locked"},
		{Route: "GET /servers", Nth: 1, Code: "bad_gateway"},
	} {
		sim.InjectFault(f)
	}
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 1)
	if _, out, err := ensure(t, pr, c); err != nil {
		t.Fatalf("ensure with transient errors: %v\n%s", err, out)
	}
	if names := serverNames(t, sim); len(names) != 2 || names["acme-cp-1"] != 1 || names["acme-workers-1"] != 1 {
		t.Errorf("servers: %v", names)
	}

	c = testCluster("acme", 1, 2)
	sim.InjectFault(hcloudsim.Fault{Route: "POST /servers", Nth: sim.Calls()["POST /servers"] + 1, Code: "resource_limit_exceeded"})
	_, _, err := ensure(t, pr, c)
	if err == nil || !strings.Contains(err.Error(), "ask Hetzner to raise it") {
		t.Errorf("ensure over the project's limit: %v, want advice", err)
	}
}
