package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
)

// TokenPrefix starts every API token, so a leaked one is recognisable by secret
// scanners and in logs.
const TokenPrefix = "prsp_"

// Token is an API token. Only the SHA-256 hash of the token is stored; the plain
// token is shown once, when it is created.
type Token struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// NewToken returns a new random API token and the hash to store for it: plain is
// TokenPrefix followed by 32 random bytes in unpadded base64url.
func NewToken() (plain string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("new token: %w", err)
	}
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain), nil
}

// HashToken returns the hash under which the token plain is stored.
func HashToken(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// CreateToken stores a token hash under a name (several tokens may share a
// name). It returns ErrExists if the hash is already stored.
func (s *Store) CreateToken(ctx context.Context, name string, hash []byte) (Token, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Token{}, fmt.Errorf("create token: empty name: %w", ErrInvalid)
	}
	if len(hash) != sha256.Size {
		return Token{}, fmt.Errorf("create token %q: hash is %d bytes, want %d (use HashToken): %w", name, len(hash), sha256.Size, ErrInvalid)
	}
	t := Token{Name: name, Hash: append([]byte(nil), hash...), CreatedAt: s.nowUTC()}
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO tokens (name, hash, created_at) VALUES ($1, $2, $3) RETURNING id`,
			t.Name, t.Hash, toNanos(t.CreatedAt)).Scan(&t.ID)
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	s.tokens.invalidate()
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", name, err)
	}
	return t, nil
}

// DeleteToken revokes a token. It returns ErrNotFound if no token has that ID.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	s.tokens.invalidate()
	if err != nil {
		return fmt.Errorf("delete token %d: %w", id, err)
	}
	return nil
}

// Tokens returns every token, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, hash, created_at FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	ts := []Token{}
	for rows.Next() {
		var t Token
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Hash, &created); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt = fromNanos(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// Authenticate reports whether plain is a stored token and returns it. Every
// stored hash is compared in constant time, and the loop does not stop at a
// match, so the response time tells nothing about which token matched or how
// much of it. The token list is cached in memory and reloaded after
// CreateToken or DeleteToken on this Store; tokens created through another
// Store on the same file are seen only after one of those.
func (s *Store) Authenticate(ctx context.Context, plain string) (Token, bool, error) {
	if plain == "" {
		return Token{}, false, nil
	}
	tokens, err := s.tokens.get(ctx, s.Tokens)
	if err != nil {
		return Token{}, false, fmt.Errorf("authenticate: %w", err)
	}
	hash := HashToken(plain)
	match := -1
	for i, t := range tokens {
		eq := subtle.ConstantTimeCompare(hash, t.Hash)
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Token{}, false, nil
	}
	return tokens[match], true, nil
}

// tokenCache holds the token list between changes. The generation counter keeps
// a load that raced with an invalidation from installing a stale list.
type tokenCache struct {
	mu     sync.Mutex
	gen    uint64
	loaded bool
	tokens []Token
}

func (c *tokenCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.loaded = false
	c.tokens = nil
	c.mu.Unlock()
}

func (c *tokenCache) get(ctx context.Context, load func(context.Context) ([]Token, error)) ([]Token, error) {
	c.mu.Lock()
	if c.loaded {
		ts := c.tokens
		c.mu.Unlock()
		return ts, nil
	}
	gen := c.gen
	c.mu.Unlock()

	ts, err := load(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.tokens, c.loaded = ts, true
	}
	c.mu.Unlock()
	return ts, nil
}
