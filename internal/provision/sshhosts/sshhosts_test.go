package sshhosts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/prosperhq/prosper/internal/provision/clusterfile"
	"github.com/prosperhq/prosper/internal/provision/sshx"
	"github.com/prosperhq/prosper/internal/provision/testhost"
)

// env is a user with a key every test host accepts, and a provider logging
// in with it.
type env struct {
	t      *testing.T
	signer ssh.Signer
	line   string
	p      *Provider
}

func newEnv(t *testing.T, backoff sshx.Backoff) *env {
	t.Helper()
	_, line, signer, err := sshx.GenerateKey("user@laptop")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{KnownHostsPath: filepath.Join(t.TempDir(), "known_hosts"), Signer: signer, Backoff: backoff, Timeout: 5 * time.Second})
	return &env{t: t, signer: signer, line: line, p: p}
}

// host is a test host that lets the user in.
func (e *env) host(opts testhost.Options) *testhost.Host {
	h := testhost.New(e.t, opts)
	h.Authorize(e.line)
	return h
}

// cluster is a cluster file naming hosts: the first as the control plane,
// the others as workers.
func cluster(t *testing.T, name string, hosts ...*testhost.Host) clusterfile.Cluster {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: prosper.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: %s\nspec:\n  provider:\n    ssh:\n      hosts:\n", name)
	for i, h := range hosts {
		pool := "workers"
		if i == 0 {
			pool = clusterfile.PoolControlPlane
		}
		fmt.Fprintf(&b, "        - {address: %s, pool: %s}\n", h.IP(), pool)
	}
	if len(hosts) > 1 {
		fmt.Fprintf(&b, "  pools:\n    - name: workers\n      count: %d\n", len(hosts)-1)
	}
	c, err := clusterfile.Parse(name+".yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return c
}

func clusterKey(t *testing.T, name string) (string, ssh.Signer) {
	t.Helper()
	_, line, signer, err := sshx.GenerateKey("prosper-" + name)
	if err != nil {
		t.Fatal(err)
	}
	return line, signer
}

func authorizedKeys(t *testing.T, h *testhost.Host) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.Root(), "root/.ssh/authorized_keys"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func readFile(t *testing.T, h *testhost.Host, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.Root(), path))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func TestEnsureTwiceAuthorizesOnce(t *testing.T) {
	e := newEnv(t, sshx.Backoff{Deadline: 10 * time.Second})
	a, b := e.host(testhost.Options{}), e.host(testhost.Options{})
	c := cluster(t, "acme", a, b)
	key, keySigner := clusterKey(t, "acme")
	ctx := context.Background()
	nodes := c.Plan()

	plan, err := e.p.Plan(ctx, c, nodes)
	if err != nil || len(plan) != 2 || !strings.Contains(plan[0], "authorize the cluster key, mark it as node acme-cp-1 of acme") {
		t.Fatalf("plan before: %q, %v", plan, err)
	}
	if got := readFile(t, a, MarkerPath); got != "" {
		t.Fatalf("Plan wrote a marker: %q", got)
	}
	var machines []string
	for range 2 {
		ms, err := e.p.Ensure(ctx, c, nodes, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		machines = machines[:0]
		for _, m := range ms {
			machines = append(machines, fmt.Sprintf("%s %s %s %s %s %s", m.Name, m.Role, m.PublicIP, m.PrivateIP, m.SSHAddr, m.SSHUser))
		}
	}
	want := []string{
		fmt.Sprintf("acme-cp-1 control-plane %s %s %s root", a.IP(), a.IP(), a.Addr()),
		fmt.Sprintf("acme-workers-1 worker %s %s %s root", b.IP(), b.IP(), b.Addr()),
	}
	if strings.Join(machines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("machines:\n%s\nwant:\n%s", strings.Join(machines, "\n"), strings.Join(want, "\n"))
	}
	for _, h := range []*testhost.Host{a, b} {
		if n := strings.Count(authorizedKeys(t, h), strings.TrimSpace(key)); n != 1 {
			t.Errorf("%s: the cluster key is in authorized_keys %d times, want 1", h.IP(), n)
		}
		// The cluster's key now logs in.
		kh, _ := sshx.NewKnownHosts(filepath.Join(t.TempDir(), "kh"))
		client, err := sshx.Dial(ctx, sshx.Config{Addr: h.Addr(), Signer: keySigner, HostKeyCallback: kh.Callback(), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("login with the cluster key: %v", err)
		}
		client.Close()
	}
	if got := readFile(t, b, MarkerPath); !strings.Contains(got, "cluster=acme\nnode=acme-workers-1\n") {
		t.Fatalf("marker on b: %q", got)
	}

	ms, err := e.p.Machines(ctx, c)
	if err != nil || len(ms) != 2 || ms[0].Name != "acme-cp-1" || ms[1].Name != "acme-workers-1" || ms[1].Role != clusterfile.RoleWorker {
		t.Fatalf("Machines: %+v, %v", ms, err)
	}
	plan, err = e.p.Plan(ctx, c, nodes)
	if err != nil || !strings.Contains(plan[1], "already node acme-workers-1 of acme") {
		t.Fatalf("plan after: %q, %v", plan, err)
	}
}

func TestEnsureRefusesAnotherClustersHost(t *testing.T) {
	e := newEnv(t, sshx.Backoff{Deadline: 10 * time.Second})
	a, b := e.host(testhost.Options{}), e.host(testhost.Options{})
	ctx := context.Background()
	other := cluster(t, "other", b)
	otherKey, _ := clusterKey(t, "other")
	if _, err := e.p.Ensure(ctx, other, other.Plan(), otherKey, nil); err != nil {
		t.Fatal(err)
	}
	before := authorizedKeys(t, b)

	acme := cluster(t, "acme", a, b)
	key, _ := clusterKey(t, "acme")
	plan, err := e.p.Plan(ctx, acme, acme.Plan())
	if err != nil || !strings.Contains(plan[1], "refuse: it is node other-cp-1 of cluster other") {
		t.Fatalf("plan: %q, %v", plan, err)
	}
	_, err = e.p.Ensure(ctx, acme, acme.Plan(), key, nil)
	if err == nil || !strings.Contains(err.Error(), "host "+b.IP()+": it is node other-cp-1 of cluster other") ||
		!strings.Contains(err.Error(), `"prosper cluster delete" of cluster other`) {
		t.Fatalf("Ensure on another cluster's host: %v", err)
	}
	if got := authorizedKeys(t, b); got != before {
		t.Fatalf("the other cluster's host was changed: authorized_keys\n%s\nwas\n%s", got, before)
	}
	if got := readFile(t, b, MarkerPath); !strings.Contains(got, "cluster=other\n") {
		t.Fatalf("the other cluster's marker became %q", got)
	}
	// The free host was still taken in.
	if got := readFile(t, a, MarkerPath); !strings.Contains(got, "cluster=acme\n") {
		t.Fatalf("marker on the free host: %q", got)
	}
}

func TestEnsureWaitsForAHostComingUp(t *testing.T) {
	e := newEnv(t, sshx.Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond, Deadline: 20 * time.Second})
	a := e.host(testhost.Options{Stopped: true})
	c := cluster(t, "acme", a)
	key, _ := clusterKey(t, "acme")
	start := time.Now()
	a.StartAfter(1500 * time.Millisecond)
	if _, err := e.p.Ensure(context.Background(), c, c.Plan(), key, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("Ensure returned after %s, before sshd started", d)
	}

	// A host that stays down fails with the reason, named.
	e = newEnv(t, sshx.Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Deadline: time.Second})
	down := e.host(testhost.Options{Stopped: true})
	c = cluster(t, "acme", down)
	_, err := e.p.Ensure(context.Background(), c, c.Plan(), key, nil)
	if err == nil || !strings.Contains(err.Error(), "host "+down.IP()+": wait for ssh") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Ensure on a host that stays down: %v", err)
	}
}

func TestDeleteCleansOursOnly(t *testing.T) {
	e := newEnv(t, sshx.Backoff{Deadline: 10 * time.Second})
	a, b, o := e.host(testhost.Options{}), e.host(testhost.Options{}), e.host(testhost.Options{})
	ctx := context.Background()
	other := cluster(t, "other", o)
	otherKey, _ := clusterKey(t, "other")
	if _, err := e.p.Ensure(ctx, other, other.Plan(), otherKey, nil); err != nil {
		t.Fatal(err)
	}
	// acme's file lists the other cluster's host too (a typo, a reused
	// file): Ensure refuses it and Delete must leave it alone.
	acme := cluster(t, "acme", a, b, o)
	key, _ := clusterKey(t, "acme")
	if _, err := e.p.Ensure(ctx, acme, acme.Plan(), key, nil); err == nil {
		t.Fatal("Ensure took the other cluster's host")
	}
	k3sFiles := "mkdir -p /usr/local/bin /etc/rancher/k3s /var/lib/rancher/k3s/server && echo x > /usr/local/bin/k3s && " +
		"echo token: t > /etc/rancher/k3s/config.yaml && echo db > /var/lib/rancher/k3s/server/db && " +
		"printf '[Service]\\nExecStart=/usr/local/bin/k3s server\\n' > /etc/systemd/system/k3s.service"
	for _, h := range []*testhost.Host{a, b, o} {
		if _, err := h.Exec(ctx, k3sFiles); err != nil {
			t.Fatal(err)
		}
	}
	otherBefore := authorizedKeys(t, o)

	// A host of ours that is down: the error names it, the others are freed.
	b.Stop()
	err := e.p.Delete(ctx, acme, nil)
	if err == nil || !strings.Contains(err.Error(), "host "+b.IP()+":") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Delete with a host down: %v", err)
	}
	b.Start()
	if err := e.p.Delete(ctx, acme, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Delete(ctx, acme, nil); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	for _, h := range []*testhost.Host{a, b} {
		for _, f := range []string{MarkerPath, "usr/local/bin/k3s", "etc/rancher/k3s/config.yaml", "var/lib/rancher/k3s/server/db", "etc/systemd/system/k3s.service"} {
			if _, err := os.Stat(filepath.Join(h.Root(), f)); !os.IsNotExist(err) {
				t.Errorf("%s: %s left behind (%v)", h.IP(), f, err)
			}
		}
		if got := authorizedKeys(t, h); strings.Contains(got, strings.TrimSpace(key)) {
			t.Errorf("%s: the cluster key is still authorized:\n%s", h.IP(), got)
		}
	}
	for _, f := range []string{"usr/local/bin/k3s", "etc/rancher/k3s/config.yaml", "var/lib/rancher/k3s/server/db", "etc/systemd/system/k3s.service"} {
		if _, err := os.Stat(filepath.Join(o.Root(), f)); err != nil {
			t.Errorf("the other cluster's host lost %s: %v", f, err)
		}
	}
	if got := readFile(t, o, MarkerPath); !strings.Contains(got, "cluster=other\n") {
		t.Errorf("the other cluster's marker became %q", got)
	}
	if got := authorizedKeys(t, o); got != otherBefore {
		t.Errorf("the other cluster's authorized_keys changed:\n%s", got)
	}
	if ms, err := e.p.Machines(ctx, acme); err != nil || len(ms) != 0 {
		t.Fatalf("Machines after Delete: %+v, %v", ms, err)
	}
}

func TestRemoveFreesNamedNodes(t *testing.T) {
	e := newEnv(t, sshx.Backoff{Deadline: 10 * time.Second})
	a, b := e.host(testhost.Options{}), e.host(testhost.Options{})
	ctx := context.Background()
	c := cluster(t, "acme", a, b)
	key, _ := clusterKey(t, "acme")
	if _, err := e.p.Ensure(ctx, c, c.Plan(), key, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Remove(ctx, c, []string{"acme-workers-1"}, nil); err != nil {
		t.Fatal(err)
	}
	ms, err := e.p.Machines(ctx, c)
	if err != nil || len(ms) != 1 || ms[0].Name != "acme-cp-1" {
		t.Fatalf("Machines after Remove: %+v, %v", ms, err)
	}
	if strings.Contains(authorizedKeys(t, b), strings.TrimSpace(key)) || !strings.Contains(authorizedKeys(t, a), strings.TrimSpace(key)) {
		t.Fatal("Remove took the key off the wrong host")
	}
}
