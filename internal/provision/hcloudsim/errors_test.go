package hcloudsim

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

func TestAPIErrors(t *testing.T) {
	sim := startSim(t, Options{})
	c := newClient(sim, "t")
	ctx := context.Background()
	pub := publicKey(t)
	if _, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "k", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	server := hcloud.ServerCreateOpts{Name: "s1", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}}
	if _, _, err := c.Server.Create(ctx, server); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		code hcloud.ErrorCode
	}{
		{"ssh key name taken", func() error {
			_, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "k", PublicKey: publicKey(t)})
			return err
		}, hcloud.ErrorCodeUniquenessError},
		{"ssh key already uploaded", func() error {
			_, _, err := c.SSHKey.Create(ctx, hcloud.SSHKeyCreateOpts{Name: "other", PublicKey: pub})
			return err
		}, hcloud.ErrorCodeUniquenessError},
		{"server name taken", func() error { _, _, err := c.Server.Create(ctx, server); return err }, hcloud.ErrorCodeUniquenessError},
		{"unknown server type", func() error {
			_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "s2", ServerType: &hcloud.ServerType{Name: "cx999"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
			return err
		}, hcloud.ErrorCodeInvalidInput},
		{"delete missing server", func() error { _, _, err := c.Server.DeleteWithResult(ctx, &hcloud.Server{ID: 999999}); return err }, hcloud.ErrorCodeNotFound},
		{"delete missing ssh key", func() error { _, err := c.SSHKey.Delete(ctx, &hcloud.SSHKey{ID: 999999}); return err }, hcloud.ErrorCodeNotFound},
		{"bad label selector", func() error {
			_, _, err := c.Server.List(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: "a in b"}})
			return err
		}, hcloud.ErrorCodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !hcloud.IsError(err, tt.code) {
				t.Errorf("err = %v, want %s", err, tt.code)
			}
		})
	}
	// hcloud-go turns a 404 on a get into a nil result.
	if got, _, err := c.Server.GetByID(ctx, 999999); got != nil || err != nil {
		t.Errorf("get missing server = %v, %v; want nil, nil", got, err)
	}
	if got, _, err := c.SSHKey.GetByName(ctx, "missing"); got != nil || err != nil {
		t.Errorf("get missing ssh key by name = %v, %v; want nil, nil", got, err)
	}
}

func TestUnauthorized(t *testing.T) {
	sim := startSim(t, Options{})
	for _, token := range []string{"wrong", ""} {
		_, _, err := newClient(sim, token).Server.List(context.Background(), hcloud.ServerListOpts{})
		if !hcloud.IsError(err, hcloud.ErrorCodeUnauthorized) {
			t.Errorf("token %q: err = %v, want unauthorized", token, err)
		}
		var apiErr hcloud.Error
		if errors.As(err, &apiErr) && apiErr.Response().StatusCode != 401 {
			t.Errorf("token %q: status = %d, want 401", token, apiErr.Response().StatusCode)
		}
	}
}

func TestRateLimit(t *testing.T) {
	sim := startSim(t, Options{RateLimit: 3, RateRefill: time.Hour})
	c := newClient(sim, "t")
	ctx := context.Background()
	for i := range 3 {
		_, resp, err := c.SSHKey.List(ctx, hcloud.SSHKeyListOpts{})
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if rl := resp.Meta.Ratelimit; rl.Limit != 3 || rl.Remaining != 2-i {
			t.Errorf("call %d: ratelimit = %+v, want limit 3 remaining %d", i+1, rl, 2-i)
		}
	}
	_, resp, err := c.SSHKey.List(ctx, hcloud.SSHKeyListOpts{})
	if !hcloud.IsError(err, hcloud.ErrorCodeRateLimitExceeded) {
		t.Fatalf("4th call: err = %v, want rate_limit_exceeded", err)
	}
	if resp.StatusCode != 429 {
		t.Errorf("status = %d, want 429", resp.StatusCode)
	}
	rl := resp.Meta.Ratelimit
	if rl.Limit != 3 || rl.Remaining != 0 {
		t.Errorf("ratelimit = %+v, want limit 3 remaining 0", rl)
	}
	// The bucket refills one request per hour, so it is full in about 3 hours.
	if until := time.Until(rl.Reset); until < 2*time.Hour || until > 3*time.Hour+time.Minute {
		t.Errorf("reset in %v, want about 3h", until)
	}

	// With a fast refill the same client gets through again.
	fast := startSim(t, Options{RateLimit: 1, RateRefill: 50 * time.Millisecond})
	fc := newClient(fast, "t")
	if _, _, err := fc.SSHKey.List(ctx, hcloud.SSHKeyListOpts{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := fc.SSHKey.List(ctx, hcloud.SSHKeyListOpts{})
		if err == nil {
			break
		}
		if !hcloud.IsError(err, hcloud.ErrorCodeRateLimitExceeded) || time.Now().After(deadline) {
			t.Fatalf("after refill: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInjectedFaultsAndLatency(t *testing.T) {
	var slow atomic.Bool
	sim := startSim(t, Options{Latency: func(route string) time.Duration {
		if slow.Load() && route == "GET /servers" {
			return 150 * time.Millisecond
		}
		return 0
	}})
	c := newClient(sim, "t")
	ctx := context.Background()
	sim.InjectFault(Fault{Route: "POST /servers", Nth: 2, Code: "resource_unavailable"})
	var errs []error
	for _, name := range []string{"a", "b", "c"} {
		_, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: name, ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
		errs = append(errs, err)
	}
	if errs[0] != nil || !hcloud.IsError(errs[1], hcloud.ErrorCodeResourceUnavailable) || errs[2] != nil {
		t.Errorf("create errors = %v, want only the second to fail with resource_unavailable", errs)
	}
	var apiErr hcloud.Error
	if errors.As(errs[1], &apiErr) && apiErr.Response().StatusCode != 422 {
		t.Errorf("injected fault status = %d, want 422", apiErr.Response().StatusCode)
	}
	servers, err := c.Server.All(ctx)
	if err != nil || len(servers) != 2 {
		t.Errorf("servers = %d, %v; want 2 (the failed call created nothing)", len(servers), err)
	}
	if got := sim.Calls()["POST /servers"]; got != 3 {
		t.Errorf("POST /servers calls = %d, want 3", got)
	}

	slow.Store(true)
	start := time.Now()
	if _, _, err := c.Server.List(ctx, hcloud.ServerListOpts{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("list with 150ms latency took %v", d)
	}
	start = time.Now()
	if _, _, err := c.SSHKey.List(ctx, hcloud.SSHKeyListOpts{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 150*time.Millisecond {
		t.Errorf("route without latency took %v", d)
	}
}

func TestServerCreateHookFailure(t *testing.T) {
	sim := startSim(t, Options{OnServerCreate: func(name, _ string, _ []string) (string, error) {
		return "", errors.New("namespace host did not boot")
	}})
	c := newClient(sim, "t")
	ctx := context.Background()
	res, _, err := c.Server.Create(ctx, hcloud.ServerCreateOpts{Name: "broken", ServerType: &hcloud.ServerType{Name: "cx22"}, Image: &hcloud.Image{Name: "ubuntu-24.04"}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Action.WaitFor(ctx, res.Action)
	if err == nil || !strings.Contains(err.Error(), "namespace host did not boot") {
		t.Fatalf("wait = %v, want the hook's error", err)
	}
	srv, _, err := c.Server.GetByID(ctx, res.Server.ID)
	if err != nil || srv.Status != hcloud.ServerStatusOff {
		t.Errorf("server after failed create = %v, %v; want off", srv, err)
	}
}
