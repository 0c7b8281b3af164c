package hcloudsim

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// fingerprint returns the MD5 fingerprint of an authorized_keys line, the
// form the real API reports.
func fingerprint(publicKey string) (string, error) {
	fields := strings.Fields(publicKey)
	if len(fields) < 2 {
		return "", fmt.Errorf("not an OpenSSH public key")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return "", fmt.Errorf("not an OpenSSH public key: %w", err)
	}
	sum := md5.Sum(blob)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(hex, ":"), nil
}

func (s *Sim) createSSHKey(r *http.Request) (int, any, *apiError) {
	var req schema.SSHKeyCreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidInput("name", "is required")
	}
	fp, err := fingerprint(req.PublicKey)
	if err != nil {
		return 0, nil, invalidInput("public_key", err.Error())
	}
	for _, k := range s.state.sshKeys {
		if k.Name == req.Name {
			return 0, nil, errorf("uniqueness_error", "SSH key with the same name already exists")
		}
		if k.Fingerprint == fp {
			return 0, nil, errorf("uniqueness_error", "SSH key with the same fingerprint already exists")
		}
	}
	k := &schema.SSHKey{
		ID: s.state.newID(), Name: req.Name, Fingerprint: fp, PublicKey: strings.TrimSpace(req.PublicKey),
		Labels: labelsOf(req.Labels), Created: time.Now().UTC(),
	}
	s.state.sshKeys[k.ID] = k
	return http.StatusCreated, schema.SSHKeyCreateResponse{SSHKey: *k}, nil
}

func (s *Sim) listSSHKeys(r *http.Request) (int, any, *apiError) {
	keys, err := filter(r, s.state.sshKeys,
		func(k *schema.SSHKey) int64 { return k.ID },
		func(k *schema.SSHKey) map[string]string { return k.Labels },
		func(k *schema.SSHKey) string { return k.Name })
	if err != nil {
		return 0, nil, err
	}
	if fp := r.URL.Query().Get("fingerprint"); fp != "" {
		var match []schema.SSHKey
		for _, k := range keys {
			if k.Fingerprint == fp {
				match = append(match, k)
			}
		}
		keys = match
	}
	return page(r, "ssh_keys", keys)
}

func (s *Sim) getSSHKey(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	k, ok := s.state.sshKeys[id]
	if !ok {
		return 0, nil, notFound("ssh_key", id)
	}
	return http.StatusOK, schema.SSHKeyGetResponse{SSHKey: *k}, nil
}

func (s *Sim) deleteSSHKey(r *http.Request) (int, any, *apiError) {
	id, err := pathID(r)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := s.state.sshKeys[id]; !ok {
		return 0, nil, notFound("ssh_key", id)
	}
	delete(s.state.sshKeys, id)
	return http.StatusNoContent, nil, nil
}
