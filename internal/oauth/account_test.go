package oauth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// accountFixture is a server with the account pages' client, and users.
type accountFixture struct {
	ts *testServer
}

func newAccountFixture(t *testing.T) *accountFixture {
	t.Helper()
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.FirstPartyClients = []string{AccountClientID} })
	if _, err := ts.Clients.EnsureFirstParty(context.Background(), AccountClientID, AccountClient(ts.URL)); err != nil {
		t.Fatal(err)
	}
	ts.mustUser("alice")
	ts.mustUser("mallory")
	return &accountFixture{ts: ts}
}

// request is a GET of an account page carrying the browser's cookies.
func (f *accountFixture) request(b *browser, path string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	u, _ := url.Parse(f.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	return req
}

// keepCookies stores the cookies a recorded response set in the browser.
func (f *accountFixture) keepCookies(b *browser, rec *httptest.ResponseRecorder) {
	u, _ := url.Parse(f.ts.URL)
	b.c.Jar.SetCookies(u, rec.Result().Cookies())
}

// startSignIn is an account page calling SignIn in the browser; it
// returns the authorization URL the browser is sent to.
func (f *accountFixture) startSignIn(t *testing.T, b *browser, returnTo string, maxAge time.Duration, mfa bool) string {
	t.Helper()
	rec := httptest.NewRecorder()
	f.ts.SignIn(rec, f.request(b, "/account"), returnTo, maxAge, mfa)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("SignIn answered %d", rec.Code)
	}
	f.keepCookies(b, rec)
	return rec.Header().Get("Location")
}

// current is the session and user Current finds for the browser.
func (f *accountFixture) current(t *testing.T, b *browser) (*auth.Session, *auth.User) {
	t.Helper()
	sess, u, err := f.ts.Current(f.request(b, "/account"))
	if err != nil {
		t.Fatal(err)
	}
	return sess, u
}

func TestAccountSignInGoesThroughTheLoginPageAndBack(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	b := newBrowser(t, f.ts)
	if sess, _ := f.current(t, b); sess != nil {
		t.Fatal("a session before signing in")
	}
	authURL := f.startSignIn(t, b, "/account/sessions?x=1", 0, false)
	q := mustQuery(t, authURL)
	if q.Get("client_id") != AccountClientID || q.Get("redirect_uri") != f.ts.URL+PathAccountCallback ||
		q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Has("max_age") || q.Has("acr_values") {
		t.Fatalf("authorization request %v", q)
	}
	p := b.login(authURL, "alice", testPassword)
	loc := p.location(t) // straight to the callback: no consent for a first-party client
	if loc.Path != PathAccountCallback {
		t.Fatalf("after the login page: %s", loc)
	}
	callback := p.Request.URL.ResolveReference(loc).String()
	back := b.get(callback)
	if got := back.location(t).String(); got != "/account/sessions?x=1" {
		t.Fatalf("the callback returns to %q", got)
	}
	sess, u := f.current(t, b)
	if sess == nil || u.Username != "alice" {
		t.Fatalf("Current after signing in: %+v %+v", sess, u)
	}
	// The callback is one use: its cookie is gone, its code spent.
	wantErrorPage(t, b.get(callback), http.StatusBadRequest)
}

func TestAccountSignInAsksForARecentSignInAndASecondFactor(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	b := newBrowser(t, f.ts)
	q := mustQuery(t, f.startSignIn(t, b, "/account/totp", 10*time.Minute, true))
	if q.Get("max_age") != "600" || q.Get("acr_values") != auth.ACRMFA {
		t.Fatalf("authorization request %v", q)
	}
	// Somewhere else than the account pages is never a return path.
	b2 := newBrowser(t, f.ts)
	authURL := f.startSignIn(t, b2, "https://evil.example/", 0, false)
	p := b2.login(authURL, "alice", testPassword)
	back := b2.get(p.Request.URL.ResolveReference(p.location(t)).String())
	if got := back.location(t).String(); got != "/account" {
		t.Fatalf("a foreign return path came back as %q", got)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Path != PathAuthorize {
		t.Fatalf("SignIn sent the browser to %q", raw)
	}
	return u.Query()
}

// TestAccountCallbackRefusesForgedResponses: the attacks on a client's
// callback, against the account pages' (RFC 9700 4.5, 4.7, RFC 9207).
func TestAccountCallbackRefusesForgedResponses(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	// victimAt signs alice in up to the callback and returns its URL.
	victimAt := func(t *testing.T, b *browser, returnTo string) *url.URL {
		p := b.login(f.startSignIn(t, b, returnTo, 0, false), "alice", testPassword)
		return p.Request.URL.ResolveReference(p.location(t))
	}
	with := func(u *url.URL, k, v string) string {
		c := *u
		q := c.Query()
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		c.RawQuery = q.Encode()
		return c.String()
	}
	t.Run("a callback without a sign-in in progress", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		cb := victimAt(t, b, "/account")
		fresh := newBrowser(t, f.ts)
		wantErrorPage(t, fresh.get(cb.String()), http.StatusBadRequest)
	})
	t.Run("another state", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		cb := victimAt(t, b, "/account")
		wantErrorPage(t, b.get(with(cb, "state", "forged")), http.StatusForbidden)
	})
	t.Run("no iss, or another issuer's", func(t *testing.T) {
		for _, iss := range []string{"", "https://evil.example"} {
			b := newBrowser(t, f.ts)
			cb := victimAt(t, b, "/account")
			wantErrorPage(t, b.get(with(cb, "iss", iss)), http.StatusForbidden)
		}
	})
	t.Run("an edited return path", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		cb := victimAt(t, b, "/account")
		u, _ := url.Parse(f.ts.URL)
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == auth.CookieAccountSigninInsecure {
				seed, _, _ := strings.Cut(c.Value, ".")
				c.Value = seed + "." + base64.RawURLEncoding.EncodeToString([]byte("/account/password"))
				b.c.Jar.SetCookies(u, []*http.Cookie{c})
			}
		}
		wantErrorPage(t, b.get(cb.String()), http.StatusForbidden)
	})
	t.Run("a code injected from the attacker's own session", func(t *testing.T) {
		// The attacker learns the victim's authorization request (its
		// PKCE challenge included), runs it in his own browser signed in
		// as himself, and plants the code in the victim's callback.
		victim, attacker := newBrowser(t, f.ts), newBrowser(t, f.ts)
		authURL := f.startSignIn(t, victim, "/account", 0, false)
		vp := victim.login(authURL, "alice", testPassword)
		cb := vp.Request.URL.ResolveReference(vp.location(t))
		ap := attacker.login(authURL, "mallory", testPassword)
		injected := ap.location(t).Query().Get("code")
		wantErrorPage(t, victim.get(with(cb, "code", injected)), http.StatusForbidden)
		if _, u := f.current(t, victim); u == nil || u.Username != "alice" {
			t.Fatal("the victim's session changed")
		}
	})
	t.Run("a code of another client", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		cb := victimAt(t, b, "/account")
		c, _ := f.ts.confidentialClient(auth.AuthMethodSecretBasic)
		code, _, _ := f.ts.issueCode(c, f.ts.mustUser("carol"), codeOpts{scopes: []string{"openid"}})
		wantErrorPage(t, b.get(with(cb, "code", code)), http.StatusForbidden)
	})
	t.Run("an error from the authorization endpoint", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		cb := victimAt(t, b, "/account")
		u := with(cb, "code", "")
		p := b.get(with(mustURL(u), "error", "access_denied"))
		wantErrorPage(t, p, http.StatusForbidden)
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestAccountRenewKeepsTheSignInUnderANewSecret(t *testing.T) {
	t.Parallel()
	f := newAccountFixture(t)
	b := newBrowser(t, f.ts)
	p := b.login(f.startSignIn(t, b, "/account", 0, false), "alice", testPassword)
	b.get(p.Request.URL.ResolveReference(p.location(t)).String())
	old, _ := f.current(t, b)
	rec := httptest.NewRecorder()
	if err := f.ts.Renew(rec, f.request(b, "/account/password"), old); err != nil {
		t.Fatal(err)
	}
	f.keepCookies(b, rec)
	renewed, u := f.current(t, b)
	if renewed == nil || u.Username != "alice" || string(renewed.Hash) == string(old.Hash) || !renewed.AuthTime.Equal(old.AuthTime) || !renewed.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("renewed session %+v, old %+v", renewed, old)
	}
	if _, err := f.ts.Store.GetSession(context.Background(), old.Hash, f.ts.Clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the old session lives on: %v", err)
	}
	if err := f.ts.Upgrade(context.Background(), renewed, []string{auth.AMROTP}); err != nil {
		t.Fatal(err)
	}
	if up, _ := f.current(t, b); !slices.Contains(up.AMR, auth.AMROTP) {
		t.Fatalf("upgraded session's methods: %v", up.AMR)
	}
	rec = httptest.NewRecorder()
	if err := f.ts.SignOut(rec, f.request(b, "/account")); err != nil {
		t.Fatal(err)
	}
	f.keepCookies(b, rec)
	if sess, _ := f.current(t, b); sess != nil {
		t.Fatal("a session after signing out")
	}
}

func TestAccountReturnPath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"/account", "/account/", "/account/totp", "/account/totp?return=%2Foauth2%2Fauthorize%3Fa%3Db"} {
		if !accountReturnPath(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "account", "/accounts", "//evil.example/account", "https://evil.example/account", "/\\evil",
		"/account/../dashboard", "/account/./x", "/account#x", "/account\r\nX: y", "/dashboard", "/oauth2/authorize"} {
		if accountReturnPath(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzAccountReturnPath(f *testing.F) {
	for _, s := range []string{"/account", "/account/totp?x=1", "//x", "/\\x", "/account/%2e%2e/x", "/account/..;/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !accountReturnPath(p) {
			return
		}
		u, err := url.Parse(p)
		if err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
			t.Fatalf("%q accepted: not a local path", p)
		}
		if u.Path != accountPath && !strings.HasPrefix(u.Path, accountPath+"/") {
			t.Fatalf("%q accepted: outside the account pages", p)
		}
		// Where a browser would really go: the path after resolving dot
		// segments, against our own origin.
		base, _ := url.Parse("https://gatehouse.example/account/x")
		if r := base.ResolveReference(u); r.Host != "gatehouse.example" ||
			(r.Path != accountPath && !strings.HasPrefix(r.Path, accountPath+"/")) {
			t.Fatalf("%q resolves to %s", p, r)
		}
	})
}
