package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sversion "k8s.io/apimachinery/pkg/version"
)

const listenAddr = "0.0.0.0:6443"

// joinRequest is what a joining server or agent posts to the first server.
type joinRequest struct {
	Name   string            `json:"name"`
	IP     string            `json:"ip"`
	Server bool              `json:"server"`
	Labels map[string]string `json:"labels"`
	Taints []corev1.Taint    `json:"taints"`
}

// joinResponse gives a joining server the cluster's CA (servers share it)
// and admin token, so it serves the same API.
type joinResponse struct {
	CACert     string `json:"caCert"`
	CAKey      string `json:"caKey,omitempty"`
	AdminToken string `json:"adminToken,omitempty"`
}

// runServer runs a first server (cluster-init) or a server joining one.
func runServer(cfg config) error {
	name := cfg.NodeName
	labels, taints, err := labelsAndTaints(cfg)
	if err != nil {
		return err
	}
	var (
		caCert, caKey, admin string
		handler              http.Handler
	)
	if cfg.Server == "" {
		if !cfg.ClusterInit {
			return fmt.Errorf("starting kubernetes: this fake needs cluster-init: true on the first server (embedded etcd)")
		}
		if cfg.Token == "" {
			return fmt.Errorf("starting kubernetes: a token is required")
		}
		s, err := loadState(cfg.Token)
		if err != nil {
			return err
		}
		if err := s.upsert(name, nodeIP(cfg), true, labels, taints); err != nil {
			return err
		}
		caCert, caKey, admin = s.CACert, s.CAKey, s.AdminToken
		handler = s.handler()
	} else {
		resp, err := join(cfg, true, labels, taints)
		if err != nil {
			return err
		}
		caCert, caKey, admin = resp.CACert, resp.CAKey, resp.AdminToken
		handler, err = proxy(cfg.Server, caCert)
		if err != nil {
			return err
		}
	}
	cert, err := serving(caCert, caKey, name)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("starting kubernetes: %w", err)
	}
	if err := writeKubeconfig(caCert, admin); err != nil {
		return err
	}
	logf("info", "Running kube-apiserver on %s (fake)", listenAddr)
	ready()
	srv := &http.Server{Handler: handler, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	return srv.ServeTLS(ln, "", "")
}

// runAgent joins the server and then runs until stopped.
func runAgent(cfg config) error {
	labels, taints, err := labelsAndTaints(cfg)
	if err != nil {
		return err
	}
	if _, err := join(cfg, false, labels, taints); err != nil {
		return err
	}
	ready()
	select {}
}

func labelsAndTaints(cfg config) (map[string]string, []corev1.Taint, error) {
	labels := map[string]string{}
	for _, l := range cfg.NodeLabel {
		k, v := splitLabel(l)
		labels[k] = v
	}
	var taints []corev1.Taint
	for _, t := range cfg.NodeTaint {
		kv, effect, ok := strings.Cut(t, ":")
		if !ok {
			return nil, nil, fmt.Errorf("invalid taint %q", t)
		}
		k, v := splitLabel(kv)
		taints = append(taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
	}
	return labels, taints, nil
}

// nodeIP is the configured node-ip or the host's first non-loopback address.
func nodeIP(cfg config) string {
	if cfg.NodeIP != "" {
		return cfg.NodeIP
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

func writeKubeconfig(caCert, token string) error {
	kc := fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    token: %s
`, base64.StdEncoding.EncodeToString([]byte(caCert)), token)
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(kubeconfigPath, []byte(kc), 0o600)
}

// proxy forwards a joined server's API requests to the first server, which
// holds the cluster's state (the fake has no etcd to replicate).
func proxy(server, caCert string) (http.Handler, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caCert))
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return rp, nil
}

// handler serves the first server's API.
func (s *state) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fake-k3s/join", s.join)
	mux.HandleFunc("GET /cacerts", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, s.CACert) })
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		major, minor := "1", ""
		if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) > 1 {
			major, minor = parts[0], parts[1]
		}
		writeJSON(w, http.StatusOK, k8sversion.Info{Major: major, Minor: minor, GitVersion: version, Platform: "linux/amd64"})
	})
	for _, p := range []string{"/readyz", "/healthz", "/livez"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	}
	mux.HandleFunc("GET /api/v1/nodes", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.list()) })
	mux.HandleFunc("GET /api/v1/nodes/{name}", s.getNode)
	mux.HandleFunc("PATCH /api/v1/nodes/{name}", s.patchNode)
	mux.HandleFunc("DELETE /api/v1/nodes/{name}", s.deleteNode)
	// The fake runs no workloads: a drain finds no pod to evict, a delete no
	// Service holding a load balancer.
	mux.HandleFunc("GET /api/v1/services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "ServiceList", "apiVersion": "v1", "metadata": map[string]any{}, "items": []any{}})
	})
	mux.HandleFunc("GET /api/v1/pods", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "PodList", "apiVersion": "v1", "metadata": map[string]any{}, "items": []any{}})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fake-k3s/join" && r.URL.Path != "/cacerts" && r.Header.Get("Authorization") != "Bearer "+s.AdminToken {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *state) join(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		logf("error", "failed to authenticate request from %s: invalid bearer token", r.RemoteAddr)
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	var req joinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "bad join request")
		return
	}
	if req.IP == "" {
		req.IP, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	if err := s.upsert(req.Name, req.IP, req.Server, req.Labels, req.Taints); err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	logf("info", "node %s (%s) joined", req.Name, req.IP)
	resp := joinResponse{CACert: s.CACert}
	if req.Server {
		resp.CAKey, resp.AdminToken = s.CAKey, s.AdminToken
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus answers with a Kubernetes Status, as the API server does.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code)})
}
