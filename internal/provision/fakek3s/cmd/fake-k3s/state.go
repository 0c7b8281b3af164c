package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// state is what the first server keeps under dataDir, so that a restart
// keeps its CA, its admin token and the node list.
type state struct {
	CACert     string                  `json:"caCert"`
	CAKey      string                  `json:"caKey"`
	Token      string                  `json:"token"` // the cluster's join token
	AdminToken string                  `json:"adminToken"`
	Nodes      map[string]*corev1.Node `json:"nodes"`
	RV         int                     `json:"resourceVersion"`

	mu   sync.Mutex
	path string
}

var statePath = filepath.Join(dataDir, "server", "fake-state.json")

// loadState reads the state or creates it with a new CA.
func loadState(token string) (*state, error) {
	s := &state{path: statePath, Nodes: map[string]*corev1.Node{}}
	data, err := os.ReadFile(s.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, s); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.path, err)
		}
		if s.Token != token {
			return nil, fmt.Errorf("starting kubernetes: preparing server: bootstrap data already found and encrypted with different token")
		}
		return s, nil
	case !os.IsNotExist(err):
		return nil, err
	}
	certPEM, keyPEM, err := newCA()
	if err != nil {
		return nil, err
	}
	s.CACert, s.CAKey, s.Token, s.AdminToken = certPEM, keyPEM, token, randHex(16)
	return s, s.saveLocked()
}

func (s *state) saveLocked() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.path+".new", data, 0o600); err != nil {
		return err
	}
	return os.Rename(s.path+".new", s.path)
}

// upsert registers a node (a join or a restart), keeping what the API
// changed since on a node that re-registers.
func (s *state) upsert(name, ip string, server bool, labels map[string]string, taints []corev1.Taint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.RV++
	n, ok := s.Nodes[name]
	if !ok {
		n = &corev1.Node{
			TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(randHex(16)),
				CreationTimestamp: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
				Labels:            map[string]string{}},
			Spec: corev1.NodeSpec{Taints: taints},
		}
		s.Nodes[name] = n
	}
	base := map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"node.kubernetes.io/instance-type": "k3s",
	}
	if server {
		base["node-role.kubernetes.io/control-plane"] = "true"
		base["node-role.kubernetes.io/master"] = "true"
		base["node-role.kubernetes.io/etcd"] = "true"
	}
	for k, v := range base {
		n.Labels[k] = v
	}
	for k, v := range labels {
		n.Labels[k] = v
	}
	n.ResourceVersion = fmt.Sprint(s.RV)
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	n.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: version, OperatingSystem: "linux",
			Architecture: "amd64", ContainerRuntimeVersion: "containerd://1.7.23-k3s2"},
	}
	return s.saveLocked()
}

// list returns the nodes sorted by name.
func (s *state) list() corev1.NodeList {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: fmt.Sprint(s.RV)}, Items: []corev1.Node{}}
	for _, n := range s.Nodes {
		l.Items = append(l.Items, *n.DeepCopy())
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l
}

func newCA() (certPEM, keyPEM string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: fmt.Sprintf("k3s-server-ca@%d", time.Now().Unix())},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), nil
}

// serving issues the API's serving certificate from the CA, for every
// address of the host.
func serving(caCertPEM, caKeyPEM, name string) (tls.Certificate, error) {
	ca, err := tls.X509KeyPair([]byte(caCertPEM), []byte(caKeyPEM))
	if err != nil {
		return tls.Certificate{}, err
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "k3s"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", name},
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Certificate[0]}, PrivateKey: key}, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
