package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// noTeam is the path segment of the apps that belong to no team.
const noTeam = "-"

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		d := time.Since(t).Round(time.Second)
		switch {
		case d < time.Minute:
			return fmt.Sprintf("%ds ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%dm ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%dh ago", int(d.Hours()))
		}
		return t.UTC().Format("2006-01-02")
	},
	"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"short":    func(sha string) string { return sha[:min(len(sha), 8)] },
	"teamPath": teamPath,
	"teamName": func(t string) string {
		if t == "" {
			return "no team"
		}
		return t
	},
}

func teamPath(team string) string {
	if team == "" {
		return "/teams/" + noTeam
	}
	return "/teams/" + url.PathEscape(team)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// parsePages parses each page together with the layout.
func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "home", "team", "app", "tests"} {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// view is what every page gets: its own data and the session's CSRF token.
type view struct {
	Title string
	CSRF  string
	Page  any
}

// render executes a page into a buffer first, so that a failure is a clean 500
// rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, name, title string, page any) {
	u.renderStatus(w, r, http.StatusOK, name, title, page)
}

func (u *UI) renderStatus(w http.ResponseWriter, r *http.Request, status int, name, title string, page any) {
	var b bytes.Buffer
	if err := u.pages[name].Execute(&b, view{Title: title, CSRF: currentSession(r).csrf, Page: page}); err != nil {
		u.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (u *UI) fail(w http.ResponseWriter, err error) {
	u.log.Error("ui", "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

type team struct {
	Name string
	Apps []AppSummary
}

// teams groups apps by team, teams by name with "no team" last.
func teams(apps []AppSummary) []team {
	by := map[string][]AppSummary{}
	for _, a := range apps {
		by[a.Team] = append(by[a.Team], a)
	}
	out := make([]team, 0, len(by))
	for name, list := range by {
		slices.SortFunc(list, func(a, b AppSummary) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, team{Name: name, Apps: list})
	}
	slices.SortFunc(out, func(a, b team) int {
		switch {
		case a.Name == "":
			return 1
		case b.Name == "":
			return -1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func (u *UI) handleHome(w http.ResponseWriter, r *http.Request) {
	apps, err := u.src.Apps(r.Context())
	if err != nil {
		u.fail(w, err)
		return
	}
	u.render(w, r, "home", "Teams", teams(apps))
}

type teamPage struct {
	Team      string // "" for the apps of no team
	Apps      []AppSummary
	Incidents []Incident
}

func (u *UI) handleTeam(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("team")
	if name == noTeam {
		name = ""
	}
	apps, err := u.src.Apps(r.Context())
	if err != nil {
		u.fail(w, err)
		return
	}
	p := teamPage{Team: name}
	var names []string
	for _, t := range teams(apps) {
		if t.Name == name {
			p.Apps = t.Apps
		}
	}
	if p.Apps == nil {
		http.Error(w, "no app belongs to team "+name, http.StatusNotFound)
		return
	}
	for _, a := range p.Apps {
		names = append(names, a.Name)
	}
	if p.Incidents, err = u.src.Incidents(r.Context(), names, 10); err != nil {
		u.fail(w, err)
		return
	}
	u.render(w, r, "team", "Team "+funcs["teamName"].(func(string) string)(name), p)
}

// ConfigVar is a config var as the page shows it.
type ConfigVar struct {
	Key    string
	Value  string // empty when Secret
	Secret bool
}

// secretKey matches the names under which secrets are usually kept.
var secretKey = regexp.MustCompile(`(?i)(secret|token|passw|pwd|key|private|credential|auth|cert|dsn|salt|session|cookie|signature)`)

// credentialsInURL matches a URL with a password in it, as in postgres://u:p@h/db.
var credentialsInURL = regexp.MustCompile(`://[^/\s:@]*:[^/\s@]*@`)

// configVars shows the values of harmless vars and hides the others. A value is
// hidden when its name looks like a secret's or it holds a URL with a password.
func configVars(env map[string]string) []ConfigVar {
	out := make([]ConfigVar, 0, len(env))
	for k, v := range env {
		c := ConfigVar{Key: k, Value: v}
		if secretKey.MatchString(k) || credentialsInURL.MatchString(v) {
			c.Value, c.Secret = "", true
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ConfigVar) int { return strings.Compare(a.Key, b.Key) })
	return out
}

type appPage struct {
	AppPage
	Vars    []ConfigVar
	Flash   string
	Rejects []Release // rejected and failed releases with their reasons, newest first
}

func (u *UI) handleApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	p, err := u.src.AppPage(r.Context(), name)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "there is no app "+name, http.StatusNotFound)
		return
	}
	if err != nil {
		u.fail(w, err)
		return
	}
	page := appPage{AppPage: p, Vars: configVars(p.Config), Flash: r.URL.Query().Get("flash")}
	page.Config = nil // never handed to the template
	for _, rel := range p.Releases {
		if len(rel.Reasons) > 0 && len(page.Rejects) < 5 {
			page.Rejects = append(page.Rejects, rel)
		}
	}
	u.render(w, r, "app", name, page)
}

func (u *UI) handleRollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	msg, err := u.src.Rollback(r.Context(), name)
	if err != nil {
		msg = "rollback failed: " + err.Error()
	}
	http.Redirect(w, r, "/apps/"+url.PathEscape(name)+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (u *UI) handleTests(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "tests", "Tests and bots", nil)
}

// loginPage is the sign-in page's data.
type loginPage struct {
	Next  string
	Error string
	About About
}

func (u *UI) login(next, problem string) loginPage {
	p := loginPage{Next: next, Error: problem}
	if u.about != nil {
		p.About = u.about()
	}
	return p
}

func (u *UI) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, "login", "Sign in", u.login(safeNext(r.URL.Query().Get("next")), ""))
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		http.Error(w, "the sign-in form came from another site", http.StatusForbidden)
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	ok, err := u.src.Authenticate(r.Context(), token)
	if err != nil {
		u.fail(w, err)
		return
	}
	if token == "" || !ok {
		u.renderStatus(w, r, http.StatusUnauthorized, "login", "Sign in", u.login(next,
			"That token is not valid. The admin token is in DATA_DIR/admin-token (cat ~/.local/share/prosper/admin-token)."))
		return
	}
	id, _ := u.sessions.create(token)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		u.sessions.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
