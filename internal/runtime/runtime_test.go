package runtime

import (
	"slices"
	"testing"
)

func TestStatusReadings(t *testing.T) {
	healthy := ReplicaStatus{Addr: "127.0.0.1:1", Healthy: true}
	starting := ReplicaStatus{Addr: "127.0.0.1:2"}
	crashing := ReplicaStatus{Addr: "127.0.0.1:3", Restarts: 2, LastExit: "exit code 3"}
	recovered := ReplicaStatus{Addr: "127.0.0.1:4", Restarts: 1, Healthy: true}
	for _, tc := range []struct {
		name      string
		replicas  []ReplicaStatus
		ready     bool
		endpoints []string
		crashLoop bool
	}{
		{"no replica", nil, false, nil, false},
		{"all healthy", []ReplicaStatus{healthy, recovered}, true, []string{"127.0.0.1:1", "127.0.0.1:4"}, false},
		{"one starting", []ReplicaStatus{healthy, starting}, false, []string{"127.0.0.1:1"}, false},
		{"one crash-looping", []ReplicaStatus{healthy, crashing}, false, []string{"127.0.0.1:1"}, true},
		{"restarted once, healthy again", []ReplicaStatus{recovered}, true, []string{"127.0.0.1:4"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status{Replicas: tc.replicas}
			if got := st.Ready(); got != tc.ready {
				t.Errorf("Ready() = %v, want %v", got, tc.ready)
			}
			if got := st.Endpoints(); !slices.Equal(got, tc.endpoints) {
				t.Errorf("Endpoints() = %v, want %v", got, tc.endpoints)
			}
			if got := st.CrashLooping(); got != tc.crashLoop {
				t.Errorf("CrashLooping() = %v, want %v", got, tc.crashLoop)
			}
		})
	}
}
