package ui

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConfigVarsHideSecrets(t *testing.T) {
	vars := configVars(map[string]string{
		"PORT_OFFSET": "3", "API_TOKEN": "t1", "STRIPE_SECRET_KEY": "t2", "DB_PASSWORD": "t3",
		"DATABASE_URL": "postgres://app:t4@db/x", "UPSTREAM": "https://example.com/x", "SESSION_SALT": "t5",
	})
	shown := map[string]string{}
	for _, v := range vars {
		if v.Secret != (v.Value == "") {
			t.Errorf("%s: secret %v with value %q", v.Key, v.Secret, v.Value)
		}
		shown[v.Key] = v.Value
	}
	for key, want := range map[string]string{"PORT_OFFSET": "3", "UPSTREAM": "https://example.com/x", "API_TOKEN": "",
		"STRIPE_SECRET_KEY": "", "DB_PASSWORD": "", "DATABASE_URL": "", "SESSION_SALT": ""} {
		if got, ok := shown[key]; !ok || got != want {
			t.Errorf("%s shows %q (listed %v), want %q", key, got, ok, want)
		}
	}
	if vars[0].Key != "API_TOKEN" {
		t.Errorf("vars are not sorted: %v", vars)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/apps/shop": "/apps/shop", "//evil.example": "/",
		"/\\evil.example": "/", "https://evil.example/": "/", "/teams/-?x=1": "/teams/-?x=1"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTeamsGroupsAppsNoTeamLast(t *testing.T) {
	got := teams([]AppSummary{{Name: "b", Team: "pay"}, {Name: "z"}, {Name: "a", Team: "pay"}, {Name: "c", Team: "ads"}})
	var names []string
	for _, tm := range got {
		var apps []string
		for _, a := range tm.Apps {
			apps = append(apps, a.Name)
		}
		names = append(names, tm.Name+":"+strings.Join(apps, ","))
	}
	if s := strings.Join(names, " "); s != "ads:c pay:a,b :z" {
		t.Errorf("teams = %s", s)
	}
}

func TestSessionsExpire(t *testing.T) {
	s := newSessions()
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	id, se := s.create("tok")
	if len(id) != 64 || len(se.csrf) != 64 || id == se.csrf {
		t.Fatalf("session id %q csrf %q", id, se.csrf)
	}
	now = now.Add(sessionTTL - time.Minute)
	if got, ok := s.get(id); !ok || got.token != "tok" {
		t.Fatal("session ended before its time")
	}
	now = now.Add(sessionTTL - time.Minute) // used a minute before expiry: extended
	if _, ok := s.get(id); !ok {
		t.Fatal("a used session was not extended")
	}
	now = now.Add(sessionTTL + time.Second)
	if _, ok := s.get(id); ok {
		t.Fatal("an idle session lived on")
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, referer string
		want            bool
	}{
		{"", "", true},
		{"http://127.0.0.1:7070", "", true},
		{"http://evil.example", "", false},
		{"", "http://127.0.0.1:7070/apps/x", true},
		{"", "http://evil.example/x", false},
		{"null", "", false},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:7070/login", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.referer != "" {
			r.Header.Set("Referer", c.referer)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("origin %q referer %q: %v, want %v", c.origin, c.referer, got, c.want)
		}
	}
}
