package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 10 {
		plain, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(plain, TokenPrefix)
		if !ok {
			t.Fatalf("token %q lacks prefix %q", plain, TokenPrefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(raw) != 32 {
			t.Errorf("token %q: body decodes to %d bytes, %v; want 32", plain, len(raw), err)
		}
		if sum := sha256.Sum256([]byte(plain)); !bytes.Equal(hash, sum[:]) {
			t.Errorf("hash of %q is not its sha256", plain)
		}
		if seen[plain] {
			t.Errorf("token %q generated twice", plain)
		}
		seen[plain] = true
	}
}

func TestAuthenticate(t *testing.T) { eachBackend(t, testAuthenticate) }

func testAuthenticate(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()

	// No tokens at all.
	if _, ok, err := s.Authenticate(ctx, "prsp_anything"); ok || err != nil {
		t.Errorf("Authenticate with no tokens = %v, %v; want false", ok, err)
	}

	plains := map[string]string{}
	for _, name := range []string{"admin", "ci", "laptop"} {
		plain, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateToken(ctx, name, hash); err != nil {
			t.Fatalf("CreateToken(%s): %v", name, err)
		}
		plains[name] = plain
	}
	tests := []struct {
		name     string
		plain    string
		wantOK   bool
		wantName string
	}{
		{"first", plains["admin"], true, "admin"},
		{"middle", plains["ci"], true, "ci"},
		{"last", plains["laptop"], true, "laptop"},
		{"wrong", "prsp_" + strings.Repeat("A", 43), false, ""},
		{"right but truncated", plains["ci"][:len(plains["ci"])-1], false, ""},
		{"right with a trailing newline", plains["ci"] + "\n", false, ""},
		{"a stored hash presented as the token", string(HashToken(plains["ci"])), false, ""},
		{"empty", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, ok, err := s.Authenticate(ctx, tc.plain)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if ok != tc.wantOK || tok.Name != tc.wantName {
				t.Errorf("Authenticate = %q, %v; want %q, %v", tok.Name, ok, tc.wantName, tc.wantOK)
			}
		})
	}
}

func TestAuthenticateSeesTokenChanges(t *testing.T) { eachBackend(t, testAuthenticateSeesTokenChanges) }

func testAuthenticateSeesTokenChanges(t *testing.T, be backend) {
	s := newTestStore(t, be)
	ctx := context.Background()
	old, oldHash, _ := NewToken()
	oldTok, err := s.CreateToken(ctx, "old", oldHash)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the cache, then check that creating and deleting tokens invalidates it.
	if _, ok, _ := s.Authenticate(ctx, old); !ok {
		t.Fatal("old token refused")
	}
	fresh, freshHash, _ := NewToken()
	if _, err := s.CreateToken(ctx, "fresh", freshHash); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Authenticate(ctx, fresh); !ok || err != nil {
		t.Errorf("token created after the cache was filled refused: %v", err)
	}
	if err := s.DeleteToken(ctx, oldTok.ID); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if _, ok, _ := s.Authenticate(ctx, old); ok {
		t.Error("deleted token still accepted")
	}
	if err := s.DeleteToken(ctx, oldTok.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteToken err = %v, want ErrNotFound", err)
	}

	// The tokens survive a restart; only hashes are on disk.
	location := be.newLocation(t)
	s2, err := OpenURL(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CreateToken(ctx, "admin", freshHash); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s2, err = OpenURL(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if tok, ok, err := s2.Authenticate(ctx, fresh); !ok || err != nil || tok.Name != "admin" {
		t.Errorf("after reopen Authenticate = %+v, %v, %v", tok, ok, err)
	}
}

func TestCreateToken(t *testing.T) { eachBackend(t, testCreateToken) }

func testCreateToken(t *testing.T, be backend) {
	s := newTestStore(t, be)
	start := stepClock(s)
	ctx := context.Background()
	_, hash, _ := NewToken()
	tok, err := s.CreateToken(ctx, "admin", hash)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 || tok.Name != "admin" || !bytes.Equal(tok.Hash, hash) || !tok.CreatedAt.Equal(start) {
		t.Errorf("CreateToken = %+v", tok)
	}
	for _, tc := range []struct {
		name, tokName string
		hash          []byte
		want          error
	}{
		{"same hash again", "other", hash, ErrExists},
		{"empty name", " ", HashToken("x"), ErrInvalid},
		{"short hash", "x", []byte("abc"), ErrInvalid},
	} {
		if _, err := s.CreateToken(ctx, tc.tokName, tc.hash); !errors.Is(err, tc.want) {
			t.Errorf("%s: CreateToken err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Two tokens may share a name (e.g. one per machine).
	if _, err := s.CreateToken(ctx, "admin", HashToken("second")); err != nil {
		t.Errorf("second token named admin: %v", err)
	}
	tokens, err := s.Tokens(ctx)
	if err != nil || len(tokens) != 2 || tokens[0].ID != tok.ID {
		t.Fatalf("Tokens = %+v, %v; want 2, oldest first", tokens, err)
	}
	b, _ := json.Marshal(tokens[0])
	if strings.Contains(string(b), "hash") || !strings.Contains(string(b), `"created_at"`) {
		t.Errorf("token JSON %s must show created_at and never the hash", b)
	}
}
