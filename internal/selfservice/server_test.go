package selfservice

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOverviewNeedsASignIn(t *testing.T) {
	h := newHarness(t)
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := h.get(anon, "/account?x=1")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: status %d, want a redirect to sign in", resp.StatusCode)
	}
	if got := h.sessions.signIns; len(got) != 1 || got[0].returnTo != "/account?x=1" || got[0].maxAge != 0 {
		t.Fatalf("SignIn calls = %+v", got)
	}
}

func TestOverviewShowsTheAccountWithTheStrictCSP(t *testing.T) {
	h := newHarness(t)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	resp, body := h.get(c, "/account")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "ada") || !strings.Contains(body, `href="/account/totp"`) {
		t.Fatalf("page lacks the user or the navigation:\n%s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Fatalf("CSP = %q", csp)
	}
	if resp, _ := h.get(c, "/account/no-such-page"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown page: status %d", resp.StatusCode)
	}
}

func TestRequireRecentAsksForANewSignIn(t *testing.T) {
	h := newHarness(t)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	req := httptestRequest(t, c, h.http.URL+"/account/password")
	rec := &recorder{header: http.Header{}}
	if _, _, ok := h.srv.requireRecent(rec, req); !ok {
		t.Fatal("a fresh sign-in must be recent enough")
	}
	h.clock.Add(DefaultRecentAuth + time.Second)
	rec = &recorder{header: http.Header{}}
	if _, _, ok := h.srv.requireRecent(rec, req); ok {
		t.Fatal("an old sign-in passed requireRecent")
	}
	last := h.sessions.signIns[len(h.sessions.signIns)-1]
	if last.returnTo != "/account/password" || last.maxAge != DefaultRecentAuth {
		t.Fatalf("SignIn = %+v", last)
	}
}

func TestReadFormRefusesForgedPosts(t *testing.T) {
	h := newHarness(t)
	u := h.user("ada", "correct horse battery")
	c, sess := h.signIn(u)
	good := h.srv.csrfToken(sess, "test")
	other, otherSess := h.signIn(u)
	_ = other
	tests := []struct {
		name   string
		token  string
		site   string
		status int
	}{
		{"the session's own token passes", good, "same-origin", http.StatusOK},
		{"a cross-site post is refused", good, "cross-site", http.StatusForbidden},
		{"no token is refused", "", "same-origin", http.StatusForbidden},
		{"another session's token is refused", h.srv.csrfToken(otherSess, "test"), "same-origin", http.StatusForbidden},
		{"another form's token is refused", h.srv.csrfToken(sess, "other"), "same-origin", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"csrf_token": {tt.token}}
			req := httptestPost(t, c, h.http.URL+"/account/x", form, tt.site)
			rec := &recorder{header: http.Header{}}
			_, ok := h.srv.readForm(rec, req, sess, "test")
			status := rec.status
			if ok {
				status = http.StatusOK
			}
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
		})
	}
}

func TestSafeReturn(t *testing.T) {
	for _, ok := range []string{"/account", "/account/totp", "/account/totp?x=1", "/oauth2/authorize?client_id=a&state=b"} {
		if safeReturn(ok) != ok {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "https://evil.example/account", "//evil.example/account", "/\\evil.example",
		"/accounts", "/dashboard", "/account/../dashboard", "/oauth2/token", "/account#x", "/account\r\nX: y",
		"javascript:alert(1)", "/oauth2/authorize/../../x"} {
		if got := safeReturn(bad); got != "" {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/account", "/oauth2/authorize?a=b", "//x", "/\\x", "/account/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := safeReturn(raw)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeReturn(%q) = %q: not a local path", raw, got)
		}
		if !strings.HasPrefix(u.Path, "/account") && u.Path != "/oauth2/authorize" {
			t.Fatalf("safeReturn(%q) = %q: outside the allowed paths", raw, got)
		}
	})
}
