package oauth

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// loginPage follows an authorization URL to the login page.
func (b *browser) loginPage(authURL string) *page {
	b.t.Helper()
	p := b.get(authURL)
	lp := b.get(p.Request.URL.ResolveReference(p.location(b.t)).String())
	if lp.StatusCode != http.StatusOK {
		b.t.Fatalf("login page: %d", lp.StatusCode)
	}
	return lp
}

func sessionCookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	b := newBrowser(t, ts)
	lp := b.loginPage(ts.authorizeURL(authParams(c)))
	checkPageHeaders(t, lp.Response)
	for _, want := range []string{`name="username"`, `name="password"`, `autocomplete="current-password"`, `name="csrf_token"`, "test client"} {
		if !strings.Contains(lp.body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if csp := lp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example.com;") {
		t.Errorf("CSP %q", csp)
	}
	// The login page re-validates the request it carries.
	wantErrorPage(t, b.get(ts.URL+PathLogin+"?"+authParams(c, "redirect_uri", "https://evil.example/cb").Encode()), http.StatusBadRequest)
	wantRedirectError(t, b.get(ts.URL+PathLogin+"?"+authParams(c, "response_type", "token").Encode()), c.RedirectURIs[0], "st-123", CodeUnsupportedResponseType)
	// The stylesheet is served from the binary.
	css := b.get(ts.URL + PathStylesheet)
	if css.StatusCode != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %s", css.StatusCode, css.Header.Get("Content-Type"))
	}
}

// Failed logins get the same 401 page whether the user is unknown, the
// password wrong or the account disabled; no session is created.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	bob := ts.mustUser("bob")
	if _, err := ts.Accounts.Disable(context.Background(), "admin", bob.ID); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	var bodies []string
	authURL := ts.authorizeURL(authParams(c))
	for _, cred := range [][2]string{{"alice", "wrong password"}, {"nobody", testPassword}, {"bob", testPassword}} {
		lp := b.loginPage(authURL)
		p := b.submit(lp, url.Values{"username": {cred[0]}, "password": {cred[1]}})
		if p.StatusCode != http.StatusUnauthorized || !strings.Contains(p.body, account.ErrInvalidCredentials) || !strings.Contains(p.body, `role="alert"`) {
			t.Fatalf("%s: %d\n%s", cred[0], p.StatusCode, p.body)
		}
		if sessionCookieOf(p.Response, sessionCookieInsecure) != nil {
			t.Fatalf("%s: a failed login set a session cookie", cred[0])
		}
		f := p.form(t)
		norm := strings.ReplaceAll(p.body, f.fields.Get("csrf_token"), "TOKEN")
		bodies = append(bodies, strings.ReplaceAll(norm, `value="`+cred[0]+`"`, `value="X"`))
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Fatalf("failure pages differ:\n%s\n---\n%s", bodies[0], bodies[i])
		}
	}
}

// From one address, a username's failures past the free ones back off
// (with Retry-After), the same for names that exist and names that do
// not; device_test.go plays the attacks on this throttle.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	statuses := func(username string) []int {
		b := newBrowser(t, ts)
		var out []int
		for range account.DefaultSourceFailures + 1 {
			lp := b.loginPage(ts.authorizeURL(authParams(c)))
			p := b.submit(lp, url.Values{"username": {username}, "password": {"wrong password"}})
			out = append(out, p.StatusCode)
			if p.StatusCode == http.StatusTooManyRequests && p.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
		return out
	}
	known, unknown := statuses("alice"), statuses("nobody")
	want := []int{401, 401, 401, 401, 401, 429}
	for i := range want {
		if known[i] != want[i] || unknown[i] != want[i] {
			t.Fatalf("statuses: known %v, unknown %v, want %v", known, unknown, want)
		}
	}
	// The right password does not get through during the back-off, even
	// from a fresh browser at the same address.
	b := newBrowser(t, ts)
	p := b.submit(b.loginPage(ts.authorizeURL(authParams(c))), url.Values{"username": {"alice"}, "password": {testPassword}})
	if p.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("locked account: %d", p.StatusCode)
	}
}

// The per-address limit counts every failure from one client address
// (here the test's loopback address) whatever the username.
func TestLoginThrottledPerAddress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	b := newBrowser(t, ts)
	got429 := false
	for i := range account.DefaultAddressFailures + 1 {
		lp := b.loginPage(ts.authorizeURL(authParams(c)))
		p := b.submit(lp, url.Values{"username": {"user" + string(rune('a'+i))}, "password": {"wrong password"}})
		if p.StatusCode == http.StatusTooManyRequests {
			got429 = i == account.DefaultAddressFailures
		}
	}
	if !got429 {
		t.Fatal("the address was not throttled after its failures")
	}
}

func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	b := newBrowser(t, ts)
	lp := b.loginPage(ts.authorizeURL(authParams(c)))
	f := lp.form(t)
	creds := url.Values{"username": {"alice"}, "password": {testPassword}}

	refused := func(name string, p *page, status int) {
		t.Helper()
		if p.StatusCode != status || sessionCookieOf(p.Response, sessionCookieInsecure) != nil {
			t.Fatalf("%s: status %d (want %d), cookies %v", name, p.StatusCode, status, p.Cookies())
		}
	}
	post := func(fields url.Values, header ...string) *page {
		v := url.Values{}
		for k, vs := range f.fields {
			v[k] = vs
		}
		for k, vs := range creds {
			v[k] = vs
		}
		for k, vs := range fields {
			v[k] = vs
		}
		return b.post(f.action, v, header...)
	}
	refused("no token", post(url.Values{"csrf_token": {""}}), http.StatusForbidden)
	refused("wrong token", post(url.Values{"csrf_token": {"1700000000.AAAA"}}), http.StatusForbidden)
	refused("request changed", post(url.Values{"request": {authParams(c, "scope", "openid profile email").Encode()}}), http.StatusForbidden)
	refused("cross-site", post(nil, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
	refused("other origin", post(nil, "Sec-Fetch-Site", "", "Origin", "https://evil.example"), http.StatusForbidden)

	// A token made for another browser's pre-session cookie.
	other := newBrowser(t, ts)
	otherForm := other.loginPage(ts.authorizeURL(authParams(c))).form(t)
	refused("another browser's token", post(url.Values{"csrf_token": otherForm.fields["csrf_token"], "request": otherForm.fields["request"]}), http.StatusForbidden)

	// An expired form.
	ts.Clock.Add(csrfTTL + 1)
	refused("expired token", post(nil), http.StatusForbidden)

	// A fresh form works (Origin null is what browsers send from a page
	// with Referrer-Policy: no-referrer).
	lp = b.loginPage(ts.authorizeURL(authParams(c)))
	f = lp.form(t)
	if p := post(nil, "Sec-Fetch-Site", "", "Origin", "null"); p.StatusCode != http.StatusOK || sessionCookieOf(p.Response, sessionCookieInsecure) == nil {
		t.Fatalf("valid login: %d", p.StatusCode)
	}
}

// The session cookie is HttpOnly, Secure, SameSite=Lax, Path=/, with the
// __Host- prefix; a new one is issued on every login (session fixation)
// and the old session ends.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t) // Secure cookies
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	login := func(old *http.Cookie) *http.Cookie {
		t.Helper()
		q := authParams(c).Encode()
		resp, err := client.Get(ts.URL + PathLogin + "?" + q)
		if err != nil {
			t.Fatal(err)
		}
		lp := readPage(t, resp)
		pre := sessionCookieOf(resp, loginCookie)
		if pre == nil || !pre.Secure || !pre.HttpOnly || pre.SameSite != http.SameSiteLaxMode || pre.Path != "/" {
			t.Fatalf("pre-session cookie %+v", pre)
		}
		f := lp.form(t)
		f.fields.Set("username", "alice")
		f.fields.Set("password", testPassword)
		req, _ := http.NewRequest(http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(pre)
		if old != nil {
			req.AddCookie(old)
		}
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sc := sessionCookieOf(resp, sessionCookie)
		if sc == nil {
			t.Fatalf("no session cookie; status %d", resp.StatusCode)
		}
		if !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" || sc.MaxAge <= 0 {
			t.Fatalf("session cookie %+v", sc)
		}
		if !strings.HasPrefix(sc.Value, PrefixSession) {
			t.Fatalf("session cookie value %q", sc.Value)
		}
		return sc
	}
	first := login(nil)
	second := login(first)
	if first.Value == second.Value {
		t.Fatal("the session secret was not renewed at login")
	}
	hash, _ := ts.parseSecret(PrefixSession, first.Value)
	if _, err := ts.Store.GetSession(context.Background(), hash, ts.Clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the session before the login lives on: %v", err)
	}
}

func readPage(t *testing.T, resp *http.Response) *page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &page{Response: resp, body: string(body)}
}

// resettingStore resets a user's password in the instant between the
// password check of a sign-in and the creation of its session.
type resettingStore struct {
	auth.OAuthStore
	once  sync.Once
	reset func()
}

func (r *resettingStore) CreateSession(ctx context.Context, s *auth.Session) error {
	r.once.Do(r.reset)
	return r.OAuthStore.CreateSession(ctx, s)
}

// TestPasswordResetDuringSignInLeavesNoSession: an administrator resets a
// password (which ends every session of the user) while a sign-in with the
// old password is between its password check and its new session. The
// sign-in must fail and leave no session behind.
func TestPasswordResetDuringSignInLeavesNoSession(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	ts.store = &resettingStore{OAuthStore: ts.Store, reset: func() {
		ts.Clock.Add(time.Second)
		if err := ts.Accounts.ResetPassword(context.Background(), "adm_1", u.ID, "a brand new passphrase"); err != nil {
			t.Error(err)
		}
	}}
	b := newBrowser(t, ts)
	p := b.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	if p.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in overtaken by a password reset = %d, want 401", p.StatusCode)
	}
	// No session: authorizing again asks to sign in.
	if loc := b.get(ts.authorizeURL(authParams(c))).location(t); loc.Path != PathLogin {
		t.Fatalf("after the refused sign-in, authorize went to %s, want the login page", loc)
	}
}
