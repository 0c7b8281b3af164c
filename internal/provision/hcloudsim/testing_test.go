package hcloudsim

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

// startSim starts a simulator that is closed when the test ends.
func startSim(t *testing.T, opts Options) *Sim {
	t.Helper()
	if opts.Token == "" {
		opts.Token = "t"
	}
	if opts.ActionDuration == 0 {
		opts.ActionDuration = 100 * time.Millisecond
	}
	sim, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return sim
}

// newClient returns an hcloud-go client for the simulator that polls
// actions quickly and does not retry, so errors reach the test as they are.
func newClient(sim *Sim, token string) *hcloud.Client {
	return hcloud.NewClient(
		hcloud.WithToken(token),
		hcloud.WithEndpoint(sim.URL),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(20 * time.Millisecond)}),
		hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: hcloud.ConstantBackoff(0), MaxRetries: 0}),
	)
}

// publicKey returns a fresh authorized_keys line.
func publicKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The wire format of an ed25519 key: string "ssh-ed25519", string key.
	blob := append([]byte{0, 0, 0, 11}, "ssh-ed25519"...)
	blob = append(blob, 0, 0, 0, 32)
	blob = append(blob, pub...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " test"
}
