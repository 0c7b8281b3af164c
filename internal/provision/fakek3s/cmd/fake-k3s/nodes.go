package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (s *state) getNode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n, ok := s.Nodes[r.PathValue("name")]
	var out *corev1.Node
	if ok {
		out = n.DeepCopy()
	}
	s.mu.Unlock()
	if !ok {
		notFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func notFound(w http.ResponseWriter, name string) {
	writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("nodes %q not found", name))
}

// patchNode applies a JSON merge patch or a strategic merge patch (taints
// merged by key, as the Node type's patch strategy says) to the node.
func (s *state) patchNode(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	strategic := ct == "application/strategic-merge-patch+json"
	if !strategic && ct != "application/merge-patch+json" {
		writeStatus(w, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got %q)", ct))
		return
	}
	body, err := io.ReadAll(r.Body)
	var patch map[string]any
	if err == nil {
		err = json.Unmarshal(body, &patch)
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "invalid patch: "+fmt.Sprint(err))
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.Nodes[name]
	if !ok {
		notFound(w, name)
		return
	}
	var doc map[string]any
	data, _ := json.Marshal(n)
	_ = json.Unmarshal(data, &doc)
	merged := merge(doc, patch, strategic, "")
	data, _ = json.Marshal(merged)
	var out corev1.Node
	if err := json.Unmarshal(data, &out); err != nil {
		writeStatus(w, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "patched node is invalid: "+err.Error())
		return
	}
	out.Name, out.UID = n.Name, n.UID
	s.RV++
	out.ResourceVersion = fmt.Sprint(s.RV)
	s.Nodes[name] = &out
	if err := s.saveLocked(); err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out.DeepCopy())
}

// merge applies patch to doc as RFC 7386 says; strategic also drops patch
// directives ($setElementOrder, $retainKeys) and merges spec.taints by key.
func merge(doc, patch map[string]any, strategic bool, path string) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range patch {
		if strategic && strings.HasPrefix(k, "$") {
			continue
		}
		p := strings.TrimPrefix(path+"."+k, ".")
		switch pv := v.(type) {
		case nil:
			delete(doc, k)
		case map[string]any:
			dv, _ := doc[k].(map[string]any)
			doc[k] = merge(dv, pv, strategic, p)
		case []any:
			if strategic && p == "spec.taints" {
				cur, _ := doc[k].([]any)
				doc[k] = mergeByKey(cur, pv)
			} else {
				doc[k] = pv
			}
		default:
			doc[k] = v
		}
	}
	return doc
}

// mergeByKey merges a strategic patch list into a list of objects keyed by
// "key": {"$patch": "delete"} removes, {"$patch": "replace"} replaces the
// whole list, anything else is added or updated.
func mergeByKey(cur, patch []any) []any {
	for _, p := range patch {
		if m, ok := p.(map[string]any); ok && m["$patch"] == "replace" {
			var out []any
			for _, q := range patch {
				if qm, ok := q.(map[string]any); !ok || qm["$patch"] == nil {
					out = append(out, q)
				}
			}
			return out
		}
	}
	for _, p := range patch {
		pm, ok := p.(map[string]any)
		if !ok {
			continue
		}
		idx := -1
		for i, c := range cur {
			if cm, ok := c.(map[string]any); ok && cm["key"] == pm["key"] {
				idx = i
			}
		}
		switch {
		case pm["$patch"] == "delete":
			if idx >= 0 {
				cur = append(cur[:idx], cur[idx+1:]...)
			}
		case idx >= 0:
			cur[idx] = merge(cur[idx].(map[string]any), pm, true, "")
		default:
			cur = append(cur, pm)
		}
	}
	return cur
}

func (s *state) deleteNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Nodes[name]; !ok {
		notFound(w, name)
		return
	}
	delete(s.Nodes, name)
	s.RV++
	if err := s.saveLocked(); err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusSuccess, Details: &metav1.StatusDetails{Name: name, Kind: "nodes"}})
}

// join registers this node with the server, retrying for a while as k3s
// does, then failing the way k3s logs it.
func join(cfg config, server bool, labels map[string]string, taints []corev1.Taint) (joinResponse, error) {
	body, _ := json.Marshal(joinRequest{Name: cfg.NodeName, IP: cfg.NodeIP, Server: server, Labels: labels, Taints: taints})
	// The plain token carries no CA hash, so the first contact cannot verify
	// the server, as with k3s's short tokens.
	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(joinWait())
	for {
		req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(cfg.Server, "/")+"/fake-k3s/join", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cfg.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			defer resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				var jr joinResponse
				if err := json.NewDecoder(resp.Body).Decode(&jr); err != nil {
					return jr, fmt.Errorf("join %s: %w", cfg.Server, err)
				}
				logf("info", "Joined the cluster at %s as %s", cfg.Server, cfg.NodeName)
				return jr, nil
			case http.StatusUnauthorized:
				//lint:ignore ST1005 k3s's own wording, which the unit's log shows
				return joinResponse{}, fmt.Errorf("Failed to validate connection to cluster at %s: token is not valid: 401 Unauthorized", cfg.Server)
			default:
				return joinResponse{}, fmt.Errorf("join %s: %s", cfg.Server, resp.Status)
			}
		}
		if time.Now().After(deadline) {
			return joinResponse{}, fmt.Errorf("starting kubernetes: failed to get CA certs: %v", err)
		}
		logf("info", "Waiting to retrieve agent configuration; server is not ready: %v", err)
		time.Sleep(time.Second)
	}
}

// joinWait is how long an unreachable server is retried: k3s retries for
// ever; the fake gives up so that the unit fails within a test's time.
func joinWait() time.Duration {
	if d, err := time.ParseDuration(getenv("FAKE_K3S_JOIN_WAIT", "5s")); err == nil {
		return d
	}
	return 5 * time.Second
}
