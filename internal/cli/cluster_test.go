package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterPlan(t *testing.T) {
	example := filepath.Join("..", "provision", "clusterfile", "testdata", "example.yaml")
	out := ok(t, "cluster", "plan", "-f", example)
	for _, want := range []string{"NODE", "control-plane", "prosper.dev/platform=true:NoSchedule"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not show %q:\n%s", want, out)
		}
	}
	var p plan
	if err := json.Unmarshal([]byte(ok(t, "cluster", "plan", "-f", example, "-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	if p.Cluster == "" || p.Provider != "hetzner" || len(p.Nodes) == 0 || p.Nodes[0].Role != "control-plane" {
		t.Fatalf("plan = %+v", p)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: prosper.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\nspec:\n  provider: {hetzner: {locations: [fsn1]}}\n  controlPlane: {count: 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fails(t, []string{"bad.yaml:6:"}, "cluster", "plan", "-f", bad)
	fails(t, []string{"pass -f CLUSTER.yaml"}, "cluster", "plan")
}
