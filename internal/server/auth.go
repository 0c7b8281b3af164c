package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/prosperhq/prosper/internal/store"
)

// ensureAdminToken keeps the admin token of an earlier start, or creates one and
// writes it, readable by the owner only, to DATA_DIR/admin-token. Only its hash is
// stored in the database.
func (s *Server) ensureAdminToken(ctx context.Context) (string, error) {
	path := s.AdminTokenPath()
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if _, ok, err := s.store.Authenticate(ctx, tok); err != nil {
			return "", err
		} else if ok {
			return tok, nil
		}
	}
	plain, hash, err := store.NewToken()
	if err != nil {
		return "", err
	}
	if _, err := s.store.CreateToken(ctx, "admin", hash); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(plain+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	// WriteFile keeps the mode of a file that exists: a stale token file left
	// readable by others must not hand them the new token.
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return plain, nil
}

// bearer returns the token a request presents: "Authorization: Bearer T", or the
// password of HTTP basic auth, as git sends it.
func bearer(r *http.Request) string {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	return ""
}

// requireToken lets a request through only with a valid API token.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			writeError(w, http.StatusUnauthorized, "this call needs a token",
				"log in with: prosper login "+s.URL()+" --token TOKEN (the admin token is in DATA_DIR/admin-token)")
			return
		}
		_, ok, err := s.store.Authenticate(r.Context(), tok)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, "the token is not valid",
				"use the admin token from DATA_DIR/admin-token: prosper login "+s.URL()+" --token TOKEN")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
