package clusterfile

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/invalid")

// TestParseInvalid checks the exact message for every malformed file under
// testdata/invalid against NAME.golden. Run with -update after changing a message,
// then read the diff: the messages are this package's user interface.
func TestParseInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found %d malformed files; the glob or the working directory is wrong", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("cluster.yaml", data)
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *Error: %v", err, err)
			}
			if ce.File != "cluster.yaml" || ce.Line < 1 || ce.Column < 1 {
				t.Errorf("error has no position: %+v", ce)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("message changed\ngot:  %swant: %s", got, want)
			}
		})
	}
}

const header = "apiVersion: prosper.dev/v1alpha1\nkind: Cluster\nmetadata: {name: acme}\n"

func TestParseValid(t *testing.T) {
	world := []string{"0.0.0.0/0", "::/0"}
	defaultFirewall := []Rule{{Port: "22", Sources: world}, {Port: "6443", Sources: world}}
	// hetzner is what a minimal hetzner file gives.
	hetzner := func(c *Cluster) {
		c.Metadata.Name = "acme"
		c.Spec.Provider.Hetzner = &Hetzner{Locations: []string{"fsn1"}, NetworkZone: "eu-central", Image: DefaultImage}
		c.Spec.ControlPlane.ServerType = DefaultControlServerType
		c.Spec.Firewall = defaultFirewall
	}
	tests := []struct {
		name string
		yaml string
		want func(c *Cluster)
	}{
		{"minimal hetzner", header + "spec:\n  provider:\n    hetzner:\n", hetzner},
		{"hetzner pool defaults", header + "spec:\n  provider: {hetzner: {locations: [ash]}}\n  pools: [{name: w, count: 2}]\n", func(c *Cluster) {
			hetzner(c)
			c.Spec.Provider.Hetzner.Locations, c.Spec.Provider.Hetzner.NetworkZone = []string{"ash"}, "us-east"
			c.Spec.Pools = []Pool{{Name: "w", Count: 2, ServerType: DefaultPoolServerType}}
		}},
		{"platform components off", header + "spec:\n  provider: {hetzner: {}}\n  platform: {nats: false, postgres: {enabled: false}, logs: false}\n", func(c *Cluster) {
			hetzner(c)
			c.Spec.Platform = Platform{Registry: true, Metrics: true}
		}},
		{"port range and number", header + "spec:\n  provider: {hetzner: {}}\n  firewall:\n    - {port: 22, sources: [10.0.0.0/8]}\n    - {port: 30000-32767, sources: [\"2001:db8::/32\"]}\n", func(c *Cluster) {
			hetzner(c)
			c.Spec.Firewall = []Rule{{Port: "22", Sources: []string{"10.0.0.0/8"}}, {Port: "30000-32767", Sources: []string{"2001:db8::/32"}}}
		}},
		{"anchors", header + "spec:\n  provider: {hetzner: {}}\n  pools:\n    - &w {name: a, count: 1, serverType: cx22}\n  standby: 2\n", func(c *Cluster) {
			hetzner(c)
			c.Spec.Pools = []Pool{{Name: "a", Count: 1, ServerType: "cx22"}}
			c.Spec.Standby = 2
		}},
		{"ssh", header + "spec:\n  provider:\n    ssh:\n      port: 2222\n      hosts: [{address: \"fd00::1\", pool: control-plane}]\n  sshKeys: [\"ssh-ed25519 AAAAC3 me@laptop\"]\n", func(c *Cluster) {
			c.Metadata.Name = "acme"
			c.Spec.Provider.SSH = &SSH{User: "root", Port: 2222, Hosts: []Host{{Address: "fd00::1", Pool: PoolControlPlane}}}
			// The ssh provider manages no firewall: no default rules, no warning.
			c.Spec.SSHKeys = []string{"ssh-ed25519 AAAAC3 me@laptop"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("cluster.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(&want)
			got.warnings = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got.Spec, want.Spec)
			}
		})
	}
}

func TestParseExample(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Spec.Provider.Hetzner
	if h == nil || !h.Snapshot || len(h.Locations) != 2 || c.Spec.ControlPlane.Count != 3 || len(c.Spec.Pools) != 2 ||
		!c.Spec.Pools[1].Platform || c.Spec.Pools[0].Labels["tier"] != "app" || c.Spec.Standby != 1 {
		t.Errorf("example read as %+v", c.Spec)
	}
	if b := c.Spec.Platform.Postgres.Backup; b == nil || b.S3.Bucket != "acme-pg" {
		t.Errorf("backup = %+v", b)
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("warnings = %q", c.Warnings())
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, spec, want string
	}{
		{"default firewall", "", "open to the whole internet"},
		{"no ssh rule", "  firewall: [{port: \"443\", sources: [0.0.0.0/0]}]\n", "no rule to port 22"},
		{"ssh in a range", "  firewall: [{port: \"1-1024\", sources: [0.0.0.0/0]}]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("cluster.yaml", []byte(header+"spec:\n  provider: {hetzner: {}}\n"+tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.Warnings(), "\n")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("warnings = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acme.yaml")
	if err := os.WriteFile(path, []byte(header+"spec:\n  provider: {hetzner: {}}\n  standbye: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:6:3: unknown field "standbye" in spec (did you mean "standby"?)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read cluster file: ") {
		t.Errorf("err = %v", err)
	}
}
