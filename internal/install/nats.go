package install

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NATSSecret is the Secret holding the token the control plane's NATS server
// and the router replicas share (key NATSTokenKey); the chart names it
// FULLNAME-nats, which for ReleaseName is this.
const (
	NATSSecret   = ReleaseName + "-nats"
	NATSTokenKey = "token"
)

// NATSToken returns the token of an earlier install in namespace, or "" when
// there is none. Rendering it again as the value nats.token keeps it: the
// chart would otherwise make a new one, and the routers of the running
// install would no longer be let in.
func (a *Applier) NATSToken(ctx context.Context, namespace string) (string, error) {
	s, err := a.cs.CoreV1().Secrets(namespace).Get(ctx, NATSSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the NATS token of the install in %s: %w", namespace, err)
	}
	return string(s.Data[NATSTokenKey]), nil
}
