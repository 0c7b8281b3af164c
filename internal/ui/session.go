package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// cookieName is the session cookie. It holds a random id only: the token it
// stands for stays on the server.
const cookieName = "prosper_session"

// sessionTTL is how long a session lives without being used.
const sessionTTL = 12 * time.Hour

// session is one signed-in browser: the API token it signed in with and the
// token its forms must carry back (CSRF).
type session struct {
	token   string
	csrf    string
	expires time.Time
}

// sessions maps random session ids to sessions, in memory: a restart of the
// control plane signs everyone out, which is the safe direction.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}, now: time.Now} }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux (Go 1.24+ panics instead)
	return hex.EncodeToString(b)
}

// create starts a session for token and returns its id.
func (s *sessions) create(token string) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, se := range s.m {
		if now.After(se.expires) {
			delete(s.m, id)
		}
	}
	id := randomHex(32)
	se := &session{token: token, csrf: randomHex(32), expires: now.Add(sessionTTL)}
	s.m[id] = se
	return id, se
}

// get returns the live session with this id and extends it.
func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[id]
	if !ok || s.now().After(se.expires) {
		delete(s.m, id)
		return session{}, false
	}
	se.expires = s.now().Add(sessionTTL)
	return *se, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// sameOrigin refuses a form posted from another site. SameSite=Strict already
// keeps the cookie off such requests; this also covers the login form, which
// has no session yet.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" {
		return true // not sent by a browser that would attach cookies cross-site
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// validCSRF reports whether the form carries the session's CSRF token.
func validCSRF(r *http.Request, se session) bool {
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) == 1
}
