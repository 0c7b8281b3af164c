// Package ui is prosper's web UI: server-rendered pages (html/template, which
// escapes everything) with small vanilla scripts that draw charts as inline SVG
// from the API's JSON. Everything it serves is embedded in the binary; nothing
// comes from a CDN. A browser signs in with an API token and gets a session
// cookie holding a random id; the token stays on the server.
package ui

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ErrNotFound is what a Source answers for an app that does not exist.
var ErrNotFound = errors.New("not found")

// Source gives the UI its data and carries out its actions. The control plane
// implements it over its store and rollout manager.
type Source interface {
	// Authenticate reports whether token is a valid API token.
	Authenticate(ctx context.Context, token string) (bool, error)
	// Apps lists every app.
	Apps(ctx context.Context) ([]AppSummary, error)
	// AppPage is what an app's page shows from the store; ErrNotFound when the
	// app does not exist.
	AppPage(ctx context.Context, app string) (AppPage, error)
	// Incidents lists the newest incidents of these apps.
	Incidents(ctx context.Context, apps []string, limit int) ([]Incident, error)
	// Rollback switches the app back to its previous release and says what it did.
	Rollback(ctx context.Context, app string) (string, error)
}

// AppSummary is an app in a listing.
type AppSummary struct {
	Name      string
	Team      string
	State     string // new, running, starting, crash-looping, stopped
	Live      int    // live release, 0 when none
	Verifying int    // release in mirror verification, 0 when none
	URL       string // where the router serves it
}

// Release is one release in an app's history.
type Release struct {
	Version   int
	Status    string
	Source    string
	Commit    string
	Message   string // the commit's message, first line
	Reasons   []string
	CreatedAt time.Time
}

// Event is one entry of an app's timeline: a deploy, verdict, rollback or incident.
type Event struct {
	Time    time.Time
	Type    string
	Release int
	Detail  string
}

// Incident is a period when an app's production was broken.
type Incident struct {
	ID         int64
	App        string
	Title      string
	Cause      string
	Release    int
	ResolvedBy int
	OpenedAt   time.Time
	ResolvedAt *time.Time
}

// AppPage is the stored part of an app's page; the live parts (verification,
// charts, logs) are fetched by the page's script.
type AppPage struct {
	App       AppSummary
	Releases  []Release // newest first
	Timeline  []Event   // newest first
	Incidents []Incident
	// Config is the app's config vars. Values of secret-looking keys never
	// leave the server: the page shows that they are set, not what they are.
	Config map[string]string
}

// Options configure the UI.
type Options struct {
	Source Source
	// API serves the JSON API (/api/...); the UI forwards its scripts' reads
	// to it with the session's token, so the browser never holds the token.
	API http.Handler
	// About tells the sign-in page what runs where; nil shows nothing.
	About  func() About
	Logger *slog.Logger
}

// About is what the sign-in page says about the platform.
type About struct {
	Version   string
	APIURL    string // where the CLI logs in
	RouterURL string // where apps answer
}

// UI is the web UI's handler.
type UI struct {
	src      Source
	api      http.Handler
	about    func() About
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessions
	mux      *http.ServeMux
}

// New returns the UI. Mount it on "/", after the API routes.
func New(opts Options) *UI {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u := &UI{src: opts.Source, api: opts.API, about: opts.About, log: opts.Logger, pages: parsePages(), sessions: newSessions()}
	static, _ := fs.Sub(staticFS, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", u.handleLoginPage)
	mux.HandleFunc("POST /login", u.handleLogin)
	mux.HandleFunc("POST /logout", u.signedIn(u.handleLogout))
	mux.HandleFunc("GET /{$}", u.signedIn(u.handleHome))
	mux.HandleFunc("GET /teams/{team}", u.signedIn(u.handleTeam))
	mux.HandleFunc("GET /apps/{app}", u.signedIn(u.handleApp))
	mux.HandleFunc("POST /apps/{app}/rollback", u.signedIn(u.handleRollback))
	mux.HandleFunc("GET /tests", u.signedIn(u.handleTests))
	mux.HandleFunc("GET /ui/api/", u.signedIn(u.handleData))
	u.mux = mux
	return u
}

// Patterns are the routes the UI serves, for mounting on the control plane's mux.
func Patterns() []string {
	return []string{"GET /static/", "GET /login", "POST /login", "POST /logout", "GET /{$}", "GET /teams/{team}",
		"GET /apps/{app}", "POST /apps/{app}/rollback", "GET /tests", "GET /ui/api/"}
}

// ServeHTTP serves the UI's routes with headers that keep its pages from being
// framed or running scripts from anywhere else.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

type sessionKey struct{}

// signedIn lets a request through with a live session whose token is still
// valid, and a POST only with the session's CSRF token; anything else is sent
// to the sign-in page (or answered 401 for the scripts' data requests).
func (u *UI) signedIn(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se, ok := u.session(r)
		if !ok {
			if strings.HasPrefix(r.URL.Path, "/ui/api/") || r.Method != http.MethodGet {
				http.Error(w, "sign in again", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && (!sameOrigin(r) || !validCSRF(r, se)) {
			http.Error(w, "the form is stale or came from another site: reload the page and try again", http.StatusForbidden)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, se)))
	}
}

func (u *UI) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return session{}, false
	}
	se, ok := u.sessions.get(c.Value)
	if !ok {
		return session{}, false
	}
	// A token deleted since sign-in ends its sessions.
	if valid, err := u.src.Authenticate(r.Context(), se.token); err != nil || !valid {
		u.sessions.remove(c.Value)
		return session{}, false
	}
	return se, true
}

func currentSession(r *http.Request) session {
	se, _ := r.Context().Value(sessionKey{}).(session)
	return se
}

// dataPaths are the API reads the pages' scripts may make. Config is not among
// them: its values could be secrets.
var dataPaths = regexp.MustCompile(`^/api/(dora|tests/report|incidents|apps/[a-z0-9-]+/(verify|series|logs|crashes|bots|status|releases|metrics))$`)

// handleData forwards a script's read to the API with the session's token.
func (u *UI) handleData(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/ui")
	if !dataPaths.MatchString(path) {
		http.NotFound(w, r)
		return
	}
	req := r.Clone(r.Context())
	req.URL.Path, req.URL.RawPath, req.RequestURI = path, "", ""
	req.Header.Del("Cookie")
	req.Header.Set("Authorization", "Bearer "+currentSession(r).token)
	u.api.ServeHTTP(w, req)
}
