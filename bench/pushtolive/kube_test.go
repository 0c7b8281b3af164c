package main

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/prosperhq/prosper/internal/kubetest"
)

// EnvBench runs TestPushToLiveOnKubernetes: it takes minutes and a root
// machine with the Kubernetes testbed, so the normal test suite skips it.
const EnvBench = "PROSPER_BENCH"

var (
	benchRuns = flag.Int("runs", 3, "with "+EnvBench+"=1: measured pushes in each mode (after one warm-up)")
	benchRate = flag.Int("rate", 20, "with "+EnvBench+"=1: user requests per second during the runs")
)

// The push-to-live bench twice in one invocation, the same runs and traffic:
// once with the apps as processes on this machine, once on a real single-node
// Kubernetes (`prosper up --kubernetes`, release images in a registry), then
// both medians side by side with the ratio cluster / one machine.
// bench/push-to-live-kube runs it.
func TestPushToLiveOnKubernetes(t *testing.T) {
	if os.Getenv(EnvBench) != "1" {
		t.Skip(EnvBench + "=1 runs the push-to-live bench on Kubernetes (bench/push-to-live-kube)")
	}
	if *benchRuns < 1 || *benchRate < 1 {
		t.Fatal("-runs and -rate must be at least 1")
	}
	t.Chdir("../..") // the bench builds ./cmd/prosper and copies examples/go-notes
	cfg := config{runs: *benchRuns, rate: *benchRate}

	fmt.Printf("== push to live on one machine (prosper up), %d runs, %d req/s ==\n\n", cfg.runs, cfg.rate)
	machine, err := bench(cfg)
	if err != nil {
		t.Fatalf("one machine: %v", err)
	}
	machine.print(os.Stdout)

	n := kubetest.StartNode(t)
	reg := kubetest.Registry(t)
	kube := cfg
	kube.up = []string{"--kubernetes", n.Kubeconfig, "--registry", reg}
	kube.buildEnv = []string{"CGO_ENABLED=0"} // what prosper builds with for a cluster
	fmt.Printf("\n== push to live on Kubernetes (prosper up --kubernetes, single node %s, registry %s), %d runs, %d req/s ==\n\n",
		n.IP, reg, kube.runs, kube.rate)
	cluster, err := bench(kube)
	if err != nil {
		t.Fatalf("Kubernetes: %v", err)
	}
	cluster.print(os.Stdout)

	fmt.Printf("\n== one machine and Kubernetes side by side ==\n")
	printComparison(os.Stdout, machine, cluster)
	if err := machine.check(); err != nil {
		t.Errorf("one machine: %v", err)
	}
	if err := cluster.check(); err != nil {
		t.Errorf("Kubernetes: %v", err)
	}
}
