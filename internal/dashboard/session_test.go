package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestSigningInGoesThroughTheLoginPageAndBack(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.browser()
	// A page asked for before signing in is where the browser lands after.
	p := b.get("/dashboard/?range=7d")
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/dashboard/signin?next=") {
		t.Fatalf("unsigned request: %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	p = b.get(p.Header.Get("Location"))
	auth, err := url.Parse(p.Header.Get("Location"))
	if err != nil || auth.Path != "/oauth2/authorize" {
		t.Fatalf("sign-in redirected to %q", p.Header.Get("Location"))
	}
	q := auth.Query()
	if q.Get("client_id") != ClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != h.URL+CallbackPath {
		t.Fatalf("authorization request lacks PKCE, state or nonce: %v", q)
	}
	login := b.follow(p)
	f := login.form(`name="password"`)
	f.fields.Set("username", "alice")
	f.fields.Set("password", testPassword)
	done := b.follow(b.send(http.MethodPost, f.action, f.fields))
	if done.StatusCode != http.StatusOK || done.Request.URL.RequestURI() != "/dashboard/?range=7d" {
		t.Fatalf("landed on %s (%d), want the page first asked for", done.Request.URL, done.StatusCode)
	}
	// Consent is skipped for the dashboard: nothing was asked.
	if strings.Contains(login.body, `name="decision"`) {
		t.Fatal("the dashboard's sign-in asked for consent")
	}
}

func TestTheSessionCookieIsHostOnlyHttpOnlyLaxAndSecure(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Insecure = false })
	p := h.browser().get("/dashboard/signin")
	var found bool
	for _, c := range p.Cookies() {
		if c.Name != auth.CookieDashboardSignin {
			continue
		}
		found = true
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("sign-in cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", c)
		}
	}
	if !found {
		t.Fatalf("no %s cookie in %v", auth.CookieDashboardSignin, p.Header["Set-Cookie"])
	}
	s := h.Dashboard
	c := s.cookie(s.sessionCookieName(), "v", 60)
	if c.Name != "__Host-gatehouse_dashboard" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie %+v", c)
	}
}

func TestAnIdleSessionEnds(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	h.Clock.Add(DefaultIdleTimeout - time.Minute)
	if p := b.get("/dashboard/"); p.StatusCode != http.StatusOK {
		t.Fatalf("within the idle timeout: %d", p.StatusCode)
	}
	h.Clock.Add(DefaultIdleTimeout + time.Second)
	p := b.get("/dashboard/")
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/dashboard/signin") {
		t.Fatalf("idle session: %d %s, want the sign-in", p.StatusCode, p.Header.Get("Location"))
	}
	// The password is asked again, although the Gatehouse session (12 h)
	// still stands: the sign-in asks for max_age = the idle timeout.
	if again := b.follow(p); !strings.Contains(again.body, `name="password"`) {
		t.Fatalf("after the idle timeout the sign-in skipped the password: %s", again.Request.URL)
	}
	// A form posted with the dead session is refused, not replayed.
	if p := b.post("/dashboard/signout", nil); p.StatusCode != http.StatusUnauthorized {
		t.Fatalf("post with an idle session: %d, want 401", p.StatusCode)
	}
}

func TestASessionEndsAtTheAbsoluteTimeoutHoweverBusy(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for elapsed := time.Duration(0); elapsed < DefaultAbsoluteTimeout-20*time.Minute; elapsed += 20 * time.Minute {
		h.Clock.Add(20 * time.Minute)
		if p := b.get("/dashboard/"); p.StatusCode != http.StatusOK {
			t.Fatalf("after %s of activity: %d", elapsed, p.StatusCode)
		}
	}
	h.Clock.Add(20 * time.Minute)
	if p := b.get("/dashboard/"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("past the absolute timeout: %d, want the sign-in", p.StatusCode)
	}
}

func TestFormsWithoutTheSessionsTokenAreRefused(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	h.user("mallory", auth.RoleAdmin)
	alice := h.signIn("alice")
	mallory := h.signIn("mallory")
	mallory.get("/dashboard/")
	for name, form := range map[string]url.Values{
		"no token":                {"csrf_token": {"-"}},
		"a made-up token":         {"csrf_token": {"1700000000.AAAA"}},
		"another session's token": {"csrf_token": {mallory.csrf}},
	} {
		if p := alice.send(http.MethodPost, "/dashboard/signout", form); p.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, p.StatusCode)
		}
	}
	// A cross-site post is refused even with the right token.
	alice.get("/dashboard/")
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/dashboard/signout", strings.NewReader(url.Values{"csrf_token": {alice.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := alice.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", resp.StatusCode)
	}
	// Alice is still signed in: nothing above signed her out.
	if p := alice.get("/dashboard/"); p.StatusCode != http.StatusOK {
		t.Fatalf("after the refused posts: %d", p.StatusCode)
	}
}

func TestSigningOutEndsTheGatehouseSessionToo(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	old := b.c.Jar.Cookies(mustURL(t, h.URL))
	p := b.post("/dashboard/signout", nil)
	if p.StatusCode != http.StatusOK || p.Header.Get("Location") != "" {
		t.Fatalf("sign-out: %d to %q, want the page that posts to the end-session endpoint", p.StatusCode, p.Header.Get("Location"))
	}
	// The ID token goes in the body of a form, never in a URL.
	f := p.form("id_token_hint")
	if !strings.HasSuffix(f.action, "/oauth2/logout") || f.fields.Get("id_token_hint") == "" || !strings.Contains(p.body, "data-autosubmit") {
		t.Fatalf("the end-session form: %+v", f)
	}
	end := b.follow(b.send(http.MethodPost, f.action, f.fields))
	if end.Request.URL.Path != SignedOutPath || end.StatusCode != http.StatusOK {
		t.Fatalf("after sign-out: %s %d\n%s", end.Request.URL, end.StatusCode, end.body)
	}
	// Signing in again needs the password: the Gatehouse session is gone.
	again := b.follow(b.get("/dashboard/"))
	if !strings.Contains(again.body, `name="password"`) {
		t.Fatalf("signing in again skipped the login page: %s", again.Request.URL)
	}
	// The old dashboard cookie, replayed, opens nothing.
	replay := h.browser()
	replay.c.Jar.SetCookies(mustURL(t, h.URL), old)
	if p := replay.get("/dashboard/"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("replayed cookie after sign-out: %d, want the sign-in", p.StatusCode)
	}
}

func TestADisabledUsersSessionIsRefused(t *testing.T) {
	h := newHarness(t)
	u := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	if _, err := h.Users.Disable(t.Context(), auth.ActorSystem, u.ID); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/dashboard/"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled user: %d, want the sign-in", p.StatusCode)
	}
}

func TestTheCallbackRefusesAResponseItDidNotAskFor(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	if p := b.get(CallbackPath + "?code=x&state=y"); p.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without a sign-in in progress: %d, want 400", p.StatusCode)
	}
	b.get("/dashboard/signin")
	if p := b.get(CallbackPath + "?code=x&state=forged"); p.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with another state: %d, want 400", p.StatusCode)
	}
}

func TestSigningInNeverRedirectsOffTheDashboard(t *testing.T) {
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "/oauth2/token", "/dashboard/\r\nSet-Cookie: x=y"} {
		if got := localPath(next); got != "/dashboard/" {
			t.Errorf("localPath(%q) = %q", next, got)
		}
	}
	if got := localPath("/dashboard/keys?owner=billing"); got != "/dashboard/keys?owner=billing" {
		t.Errorf("a dashboard path was not kept: %q", got)
	}
}

func TestEveryPageHasAStrictContentSecurityPolicy(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for _, path := range []string{"/dashboard/", "/dashboard/no-such-page", "/dashboard/signin", SignedOutPath} {
		p := b.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if p.Header.Get("Cache-Control") != "no-store" || p.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, p.Header)
		}
	}
	if p := b.get("/dashboard/no-such-page"); p.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", p.StatusCode)
	}
	if p := b.get(staticURL("dashboard.css")); p.StatusCode != http.StatusOK || !strings.Contains(p.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %v", p.StatusCode, p.Header)
	}
	if p := b.get("/dashboard/static/../templates/layout.html"); p.StatusCode == http.StatusOK {
		t.Error("a template was served as a static file")
	}
}

func TestEndedSessionsArePurged(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	h.signIn("alice")
	h.signIn("alice")
	h.Clock.Add(DefaultIdleTimeout + time.Minute)
	n, err := h.Dashboard.Purge(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2 idle sessions deleted", n, err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAPasswordResetElsewhereEndsTheSession(t *testing.T) {
	h := newHarness(t)
	u := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	h.Clock.Add(time.Second)
	if err := h.Users.ResetPassword(t.Context(), auth.ActorSystem, u.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/dashboard/"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("after a password reset through the service: %d, want the sign-in", p.StatusCode)
	}
}
