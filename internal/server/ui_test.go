package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prosperhq/prosper/internal/store"
)

// browser is an HTTP client with a cookie jar that does not follow redirects,
// so that tests see where the UI sends it.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	all, _ := io.ReadAll(resp.Body)
	return resp, string(all)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (b *browser) signIn(token string) {
	b.t.Helper()
	resp, _ := b.do(http.MethodPost, "/login", url.Values{"token": {token}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("sign in = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestUISessionGuardsEveryPage(t *testing.T) {
	ts := startServer(t, "")
	ts.createApp("shop")
	b := newBrowser(t, ts.URL())

	for _, path := range []string{"/", "/teams/-", "/apps/shop", "/tests"} {
		resp, _ := b.do(http.MethodGet, path, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s signed out = %d to %q, want the sign-in page", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := b.do(http.MethodGet, "/ui/api/apps/shop/status", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("data signed out = %d, want 401", resp.StatusCode)
	}
	if resp, body := b.do(http.MethodPost, "/login", url.Values{"token": {"prsp_wrong"}}); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "not valid") {
		t.Errorf("wrong token = %d %s", resp.StatusCode, body)
	}
	// A sign-in form posted from another site is refused.
	req, _ := http.NewRequest(http.MethodPost, ts.URL()+"/login", strings.NewReader(url.Values{"token": {ts.token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site sign-in = %v %v, want 403", resp, err)
	}

	resp, _ := b.do(http.MethodPost, "/login", url.Values{"token": {ts.token}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign in = %d to %q, want / (an outside next is dropped)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "prosper_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/", cookie)
	}
	if strings.Contains(cookie.Value, ts.token) || strings.Contains(cookie.Value, strings.TrimPrefix(ts.token, store.TokenPrefix)) {
		t.Fatal("the session cookie holds the token")
	}

	resp, home := b.do(http.MethodGet, "/", nil)
	if resp.StatusCode != 200 || !strings.Contains(home, `href="/apps/shop"`) || !strings.Contains(home, "no team") {
		t.Fatalf("home = %d:\n%s", resp.StatusCode, home)
	}
	if resp, body := b.do(http.MethodGet, "/ui/api/apps/shop/status", nil); resp.StatusCode != 200 || !strings.Contains(body, `"app"`) {
		t.Errorf("data signed in = %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/ui/api/apps/shop/config", "/ui/api/apps/shop/rollback", "/ui/api/apps"} {
		if resp, _ := b.do(http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404: the UI does not forward it", path, resp.StatusCode)
		}
	}
	// The session cookie is no API token.
	if resp, _ := b.do(http.MethodGet, "/api/apps", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with the session cookie only = %d, want 401", resp.StatusCode)
	}

	// Actions need the CSRF token of the session.
	if resp, _ := b.do(http.MethodPost, "/apps/shop/rollback", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rollback without CSRF = %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodPost, "/apps/shop/rollback", url.Values{"csrf": {strings.Repeat("0", 64)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rollback with a wrong CSRF token = %d, want 403", resp.StatusCode)
	}
	_, page := b.do(http.MethodGet, "/apps/shop", nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("app page has no CSRF field:\n%s", page)
	}
	resp, _ = b.do(http.MethodPost, "/apps/shop/rollback", url.Values{"csrf": {m[1]}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "flash=rollback+failed") {
		t.Errorf("rollback of an app with no release = %d to %q, want its failure told", resp.StatusCode, loc)
	}

	if resp, _ := b.do(http.MethodPost, "/logout", url.Values{"csrf": {m[1]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	// The old cookie is dead on the server too, not only dropped by the browser.
	req, _ = http.NewRequest(http.MethodGet, ts.URL()+"/", nil)
	req.AddCookie(cookie)
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("old session after logout = %v %v, want a redirect to sign in", resp, err)
	}
}

const hostile = `<script>alert(1)</script>`

func TestUIEscapesAndHidesSecrets(t *testing.T) {
	ts := startServer(t, "")
	ts.must(http.MethodPost, "/api/apps", map[string]string{"name": "shop", "team": "payments"}, http.StatusCreated)
	ctx := context.Background()
	st := ts.store
	// Config keys are validated by the store; values are anything.
	if _, err := st.SetConfig(ctx, "shop", map[string]string{
		"GREETING": hostile, "STRIPE_SECRET_KEY": "sk_live_hidden1", "DATABASE_URL": "postgres://app:hidden2@db/shop",
		"LOG_FORMAT": "json-visible",
	}, nil); err != nil {
		t.Fatal(err)
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	if err := st.RecordCommits(ctx, []store.Commit{{App: "shop", SHA: sha, Branch: "main", Author: hostile,
		AuthorTime: time.Now(), CommitTime: time.Now(), Message: hostile + " fix", PushedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRelease(ctx, store.Release{App: "shop", Status: store.StatusRejected, Commit: sha, Source: "git",
		Reasons: []string{"p95 +80ms " + hostile}}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"reasons": []string{hostile}})
	if _, err := st.AppendEvent(ctx, store.Event{Type: "release.rejected", App: "shop", Release: 1, Data: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OpenIncident(ctx, store.Incident{App: "shop", Title: hostile, Cause: store.CauseManual}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, ts.URL())
	b.signIn(ts.token)
	for _, path := range []string{"/apps/shop", "/teams/payments", "/"} {
		resp, body := b.do(http.MethodGet, path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d: %s", path, resp.StatusCode, body)
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s renders hostile text as markup", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s CSP = %q", path, csp)
		}
		for _, secret := range []string{"sk_live_hidden1", "hidden2"} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the secret %q", path, secret)
			}
		}
	}
	_, app := b.do(http.MethodGet, "/apps/shop", nil)
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; fix",               // commit message
		"p95 &#43;80ms &lt;script&gt;alert(1)&lt;/script&gt;",     // rejection reason
		"<code>&lt;script&gt;alert(1)&lt;/script&gt;</code></td>", // config value
		"STRIPE_SECRET_KEY", "DATABASE_URL", "json-visible", "hidden (set)",
	} {
		if !strings.Contains(app, want) {
			t.Errorf("app page lacks %q", want)
		}
	}
	_, team := b.do(http.MethodGet, "/teams/payments", nil)
	if !strings.Contains(team, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(team, `data-team="payments"`) {
		t.Errorf("team page lacks the escaped incident or its DORA section:\n%s", team)
	}
	if resp, _ := b.do(http.MethodGet, "/apps/nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown app = %d", resp.StatusCode)
	}
	if resp, _ := b.do(http.MethodGet, "/teams/nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown team = %d", resp.StatusCode)
	}
}
