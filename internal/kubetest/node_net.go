package kubetest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The node's addresses, all in the benchmarking range 198.18.0.0/15 (never a
// private range). The service range, 198.19.0.0/24, is Start's.
const (
	nodeIP     = "198.18.255.1"
	podSubnet  = "198.18.128.0/24"
	podGateway = "198.18.128.1"
	// bridgeName is the CNI bridge; our own name so that another cni0 is left alone.
	bridgeName = "prospercni0"
	vethName   = "prospernode0"
	vethPeer   = "prospernode1"
	netnsDir   = "/var/run/netns"
)

// sh runs a command and returns its combined output, with the command in the error.
func sh(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// setupVeth gives the node its IP on one end of a veth pair: the kubelet refuses a
// loopback node IP and this kernel has no dummy links. A pair left by a killed run
// is replaced.
func setupVeth() error {
	_, _ = sh("ip", "link", "del", vethName)
	steps := [][]string{
		{"link", "add", vethName, "type", "veth", "peer", "name", vethPeer},
		{"addr", "add", nodeIP + "/32", "dev", vethName},
		{"link", "set", vethPeer, "up"},
		{"link", "set", vethName, "up"},
	}
	for _, s := range steps {
		if _, err := sh("ip", s...); err != nil {
			return fmt.Errorf("node ip: %w", err)
		}
	}
	return nil
}

// cleanNetwork removes what the node added to the host's network: the veth pair,
// the CNI bridge, the kubelet's and the CNI plugins' iptables rules and the pods'
// network namespaces that existed not before the node (before). Errors are
// reported, not fatal: clean-up goes on with the next item.
func cleanNetwork(t testing.TB, before map[string]bool) {
	for _, link := range []string{vethName, bridgeName} {
		if _, err := sh("ip", "link", "show", link); err == nil {
			if _, err := sh("ip", "link", "del", link); err != nil {
				t.Logf("kubetest clean-up: %v", err)
			}
		}
	}
	cleanIptables(t)
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if before[e.Name()] || !strings.HasPrefix(e.Name(), "cni-") {
			continue
		}
		p := filepath.Join(netnsDir, e.Name())
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
		if err := os.Remove(p); err != nil {
			t.Logf("kubetest clean-up: remove netns %s: %v", p, err)
		}
	}
}

// netnsNames lists the network namespaces present now.
func netnsNames() map[string]bool {
	m := map[string]bool{}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// kubeletChains are the chains the kubelet adds to every table, in iptables and
// ip6tables; kube-proxy --cleanup leaves them, and KUBE-FIREWALL drops non-local
// packets to 127.0.0.0/8.
var kubeletChains = map[string]bool{"KUBE-FIREWALL": true, "KUBE-KUBELET-CANARY": true, "KUBE-IPTABLES-HINT": true}

// cleanIptables removes the kubelet's chains and the CNI rules for the pod subnet.
func cleanIptables(t testing.TB) {
	_, subnet, _ := net.ParseCIDR(podSubnet)
	inSubnet := func(s string) bool {
		ip, _, err := net.ParseCIDR(s)
		if err != nil {
			ip = net.ParseIP(s)
		}
		return ip != nil && subnet.Contains(ip) && s != "0.0.0.0/0"
	}
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"nat", "filter", "mangle"} {
			// num target prot opt source destination ...
			err := deleteRules(cmd, table, func(f []string) (bool, bool) {
				if kubeletChains[f[1]] {
					return true, true
				}
				if len(f) >= 6 && (inSubnet(f[4]) || inSubnet(f[5])) {
					return true, strings.HasPrefix(f[1], "CNI-")
				}
				return false, false
			})
			if err != nil {
				t.Logf("kubetest clean-up: %v", err)
			}
			for c := range kubeletChains {
				_, _ = sh(cmd, "-w", "-t", table, "-F", c)
				_, _ = sh(cmd, "-w", "-t", table, "-X", c)
			}
		}
	}
}

// deleteRules deletes the rules of table's built-in chains that match (given the
// fields of "iptables -L -n --line-numbers") and, when match says so, flushes and
// deletes the chain they jump to. Rules go by number, highest first, so that the
// numbers of the remaining ones do not shift.
func deleteRules(cmd, table string, match func(fields []string) (del, dropTarget bool)) error {
	out, err := sh(cmd, "-w", "-t", table, "-S")
	if err != nil {
		return err
	}
	var builtins []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "-P" {
			builtins = append(builtins, f[1])
		}
	}
	targets := map[string]bool{}
	for _, chain := range builtins {
		out, err := sh(cmd, "-w", "-t", table, "-L", chain, "-n", "--line-numbers")
		if err != nil {
			return err
		}
		var nums []int
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			del, drop := match(f)
			if !del {
				continue
			}
			nums = append(nums, n)
			if drop {
				targets[f[1]] = true
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(nums)))
		for _, n := range nums {
			if _, err := sh(cmd, "-w", "-t", table, "-D", chain, strconv.Itoa(n)); err != nil {
				return err
			}
		}
	}
	for c := range targets {
		_, _ = sh(cmd, "-w", "-t", table, "-F", c)
		_, _ = sh(cmd, "-w", "-t", table, "-X", c)
	}
	return nil
}

// unmountUnder detaches every mount point below dir, deepest first: the kubelet's
// volume tmpfs and containerd's shm and rootfs mounts outlive their processes when
// those are killed, and would make the directory impossible to remove.
func unmountUnder(t testing.TB, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Logf("kubetest clean-up: unmount %s: %v", p, err)
		}
	}
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
