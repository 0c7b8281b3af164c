package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// GenerateKey makes an ed25519 key pair for a cluster: the private key in
// OpenSSH PEM form (to store), its authorized_keys line (to give the provider
// or the hosts), and a signer to log in with.
func GenerateKey(comment string) (privatePEM []byte, authorizedKey string, signer ssh.Signer, err error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", nil, fmt.Errorf("generate ssh key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", nil, fmt.Errorf("generate ssh key: %w", err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", nil, fmt.Errorf("generate ssh key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return pem.EncodeToMemory(block), line, signer, nil
}

// ParseKey reads a private key written by GenerateKey (or any unencrypted
// OpenSSH or PEM private key).
func ParseKey(privatePEM []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return nil, fmt.Errorf("parse ssh key: %w", err)
	}
	return s, nil
}
