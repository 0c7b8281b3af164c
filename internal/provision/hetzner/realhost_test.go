package hetzner

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/provision/hcloudsim"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// TestEnsureOnRealHosts turns each created server into a real sshd in a
// network namespace and logs in to the returned SSHAddr with the cluster
// key that Ensure passed to the server.
func TestEnsureOnRealHosts(t *testing.T) {
	hosts := map[string]*testhost.Host{
		"acme-cp-1":      testhost.New(t, testhost.Options{}),
		"acme-workers-1": testhost.New(t, testhost.Options{}),
	}
	var mu sync.Mutex
	authorized := map[string]int{}
	sim := startSim(t, hcloudsim.Options{OnServerCreate: func(name, _ string, keys []string) (string, error) {
		h, ok := hosts[name]
		if !ok {
			return "", fmt.Errorf("no test host for %s", name)
		}
		for _, k := range keys {
			h.Authorize(k)
		}
		mu.Lock()
		authorized[name] = len(keys)
		mu.Unlock()
		return h.IP(), nil
	}})
	pr := newProvider(t, sim)
	c := testCluster("acme", 1, 1)
	// The cluster's private network is the range the hosts live on, so a
	// node's private IP is its real address (see hcloudsim.Options).
	c.Spec.Network.CIDR = coveringPrefix(t, hosts["acme-cp-1"].IP(), hosts["acme-workers-1"].IP()).String()

	_, key, signer, err := sshx.GenerateKey("prosper@acme")
	if err != nil {
		t.Fatal(err)
	}
	ms, out, err := ensureWithKey(t, pr, c, key)
	if err != nil {
		t.Fatalf("ensure: %v\n%s", err, out)
	}
	kh, err := sshx.NewKnownHosts(filepath.Join(t.TempDir(), "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		h := hosts[m.Name]
		if m.SSHAddr != h.Addr() || m.PrivateIP != h.IP() {
			t.Errorf("%s: SSHAddr %s, private IP %s; want the host's %s", m.Name, m.SSHAddr, m.PrivateIP, h.Addr())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl, err := sshx.Dial(ctx, sshx.Config{Addr: m.SSHAddr, User: m.SSHUser, Signer: signer, HostKeyCallback: kh.Callback()})
		if err != nil {
			cancel()
			t.Fatalf("%s: log in with the cluster key: %v", m.Name, err)
		}
		got, err := cl.Output(ctx, "echo ok")
		cancel()
		_ = cl.Close()
		if err != nil || got != "ok\n" {
			t.Errorf("%s: echo ok = %q, %v", m.Name, got, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if authorized["acme-cp-1"] != 1 || authorized["acme-workers-1"] != 1 {
		t.Errorf("keys given to the servers: %v, want the cluster key each", authorized)
	}
}

// coveringPrefix is the longest prefix that holds every address.
func coveringPrefix(t *testing.T, ips ...string) netip.Prefix {
	t.Helper()
	first := netip.MustParseAddr(ips[0])
	for bits := 24; bits >= 8; bits-- {
		p := netip.PrefixFrom(first, bits).Masked()
		ok := true
		for _, ip := range ips[1:] {
			ok = ok && p.Contains(netip.MustParseAddr(ip))
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no prefix holds %v", ips)
	return netip.Prefix{}
}
