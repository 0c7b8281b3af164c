package testhost

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// usedSubnets remembers the /30s this process handed out, so parallel tests
// never draw the same one; other processes are avoided by reading the
// machine's addresses (see subnetFree).
var (
	subnetMu    sync.Mutex
	usedSubnets = map[netip.Prefix]bool{}
)

// createNetwork makes the namespace and a veth pair on a private /30 and
// returns the test-side and host-side addresses.
func (h *Host) createNetwork() (outIP, inIP string, err error) {
	prefix, err := pickSubnet()
	if err != nil {
		return "", "", err
	}
	out := prefix.Addr().Next()
	in := out.Next()
	vethIn := strings.TrimSuffix(h.vethOut, "o") + "i"
	steps := [][]string{
		{"netns", "add", h.ns},
		{"link", "add", h.vethOut, "type", "veth", "peer", "name", vethIn},
		{"link", "set", vethIn, "netns", h.ns},
		{"addr", "add", out.String() + "/30", "dev", h.vethOut},
		{"link", "set", h.vethOut, "up"},
		{"-n", h.ns, "link", "set", "lo", "up"},
		{"-n", h.ns, "addr", "add", in.String() + "/30", "dev", vethIn},
		{"-n", h.ns, "link", "set", vethIn, "up"},
		// With forwarding on in the test's namespace, hosts reach each other
		// through it.
		{"-n", h.ns, "route", "add", "default", "via", out.String()},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			return "", "", fmt.Errorf("create network: %w", err)
		}
	}
	return out.String(), in.String(), nil
}

// deleteNetwork removes the veth pair and the namespace; deleting either end
// of a veth pair deletes both.
func (h *Host) deleteNetwork() {
	_ = ip("link", "del", h.vethOut)
	_ = ip("netns", "del", h.ns)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pickSubnet draws a random /30 from 198.19.0.0/16 (benchmarking space, RFC
// 2544: never a private range a real network of the machine may use) that no
// interface on the machine and no other host of this process uses.
func pickSubnet() (netip.Prefix, error) {
	subnetMu.Lock()
	defer subnetMu.Unlock()
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list addresses: %w", err)
	}
	var taken []netip.Prefix
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil {
			taken = append(taken, p.Masked())
		}
	}
	for range 100 {
		var r [2]byte
		_, _ = rand.Read(r[:])
		addr := netip.AddrFrom4([4]byte{198, 19, r[0], r[1] &^ 3})
		p := netip.PrefixFrom(addr, 30)
		if usedSubnets[p] || overlaps(p, taken) {
			continue
		}
		usedSubnets[p] = true
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free /30 in 198.19.0.0/16")
}

func overlaps(p netip.Prefix, taken []netip.Prefix) bool {
	for _, t := range taken {
		if t.Overlaps(p) {
			return true
		}
	}
	return false
}
