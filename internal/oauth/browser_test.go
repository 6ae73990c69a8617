package oauth

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Helpers that drive the browser pages like a user agent: a cookie jar,
// no automatic redirects (the test follows them and inspects each step),
// and a tiny parser for our own forms.

const testPassword = "correct horse battery staple"

// insecureCookies lets Go's cookie jar, which sends Secure cookies only
// over https, keep the session over the httptest server's plain HTTP.
func insecureCookies(c *Config) { c.InsecureCookies = true }

type browser struct {
	t  *testing.T
	ts *testServer
	c  *http.Client
	// addr and userAgent, when set, are the client address the server
	// sees (see testRemoteAddrHeader) and the User-Agent sent.
	addr, userAgent string
}

func newBrowser(t *testing.T, ts *testServer) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ts: ts, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one response, its body read.
type page struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	if b.addr != "" {
		req.Header.Set(testRemoteAddrHeader, b.addr)
	}
	if b.userAgent != "" {
		req.Header.Set("User-Agent", b.userAgent)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{Response: resp, body: string(body)}
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as our pages would (same origin).
func (b *browser) post(u string, form url.Values, header ...string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// htmlForm is a form of one of our pages.
type htmlForm struct {
	action string
	fields url.Values
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	inputRe  = regexp.MustCompile(`<input ([^>]*)>`)
	attrRe   = regexp.MustCompile(`(\w[\w-]*)="([^"]*)"`)
	buttonRe = regexp.MustCompile(`<button type="submit" name="(\w+)" value="(\w+)"`)
)

func (p *page) form(t *testing.T) htmlForm {
	t.Helper()
	m := formRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page (status %d):\n%s", p.StatusCode, p.body)
	}
	f := htmlForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
	for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["name"] != "" {
			f.fields.Set(attrs["name"], attrs["value"])
		}
	}
	return f
}

// submit fills the form with values (which override its own) and posts it.
func (b *browser) submit(p *page, values url.Values) *page {
	b.t.Helper()
	f := p.form(b.t)
	for k, vs := range values {
		f.fields[k] = vs
	}
	return b.post(f.action, f.fields)
}

// location returns the redirect target of a 303, failing otherwise.
func (p *page) location(t *testing.T) *url.URL {
	t.Helper()
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; body:\n%s", p.StatusCode, p.body)
	}
	u, err := url.Parse(p.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// login follows an authorization URL to the login page and signs in.
func (b *browser) login(authURL, username, password string) *page {
	b.t.Helper()
	p := b.get(authURL)
	loc := p.location(b.t)
	if loc.Path != PathLogin {
		b.t.Fatalf("authorize redirected to %s, want the login page", loc)
	}
	lp := b.get(p.Request.URL.ResolveReference(loc).String())
	if lp.StatusCode != http.StatusOK {
		b.t.Fatalf("login page: %d %s", lp.StatusCode, lp.body)
	}
	return b.submit(lp, url.Values{"username": {username}, "password": {password}})
}

// codeFrom checks a redirect to the client with a code, the state and
// the issuer, and returns the code.
func (b *browser) codeFrom(p *page, redirectURI, state string) string {
	b.t.Helper()
	loc := p.location(b.t)
	if !strings.HasPrefix(loc.String(), redirectURI+"?") {
		b.t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		b.t.Fatalf("error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != b.ts.URL || !strings.HasPrefix(q.Get("code"), PrefixAuthCode) {
		b.t.Fatalf("redirect query %v", q)
	}
	return q.Get("code")
}

// wantRedirectError checks a redirect to the client with an error.
func wantRedirectError(t *testing.T, p *page, redirectURI, state, code string) {
	t.Helper()
	loc := p.location(t)
	if !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	q := loc.Query()
	if q.Get("error") != code || q.Get("state") != state || q.Get("code") != "" {
		t.Fatalf("redirect query %v, want error %s and state %q", q, code, state)
	}
	if q.Get("iss") == "" {
		t.Fatal("no iss in the error redirect (RFC 9207)")
	}
}

// wantErrorPage checks an error shown to the user, never redirected.
func wantErrorPage(t *testing.T, p *page, status int) {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.StatusCode, status, p.body)
	}
	if loc := p.Header.Get("Location"); loc != "" {
		t.Fatalf("redirected to %s", loc)
	}
	if !strings.Contains(p.body, `role="alert"`) {
		t.Fatalf("not the error page:\n%s", p.body)
	}
	checkPageHeaders(t, p.Response)
}

func checkPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", resp.Request.URL.Path, csp, want)
		}
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", resp.Request.URL.Path, k, got, v)
		}
	}
}

// authParams are the parameters of a valid request for client c.
func authParams(c *auth.Client, extra ...string) url.Values {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURIs[0]},
		"scope":                 {"openid profile"},
		"state":                 {"st-123"},
		"code_challenge":        {s256(newVerifier())},
		"code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return q
}

func (ts *testServer) authorizeURL(q url.Values) string {
	return ts.URL + PathAuthorize + "?" + q.Encode()
}

// TestBrowserFlowWithRealClients runs the authorization code flow with
// golang.org/x/oauth2 and checks the ID token with go-oidc against our
// discovery document and JWKS; then the remembered consent skips the
// page, and revoking it brings the page back and kills the tokens.
func TestBrowserFlowWithRealClients(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, Endpoint: provider.Endpoint(),
		RedirectURL: c.RedirectURIs[0], Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	verifier := oauth2.GenerateVerifier()
	nonce := "n-" + newVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("resource", "https://api.example.com"))

	b := newBrowser(t, ts)
	consent := b.login(authURL, "alice", testPassword)
	if consent.StatusCode != http.StatusOK || !strings.Contains(consent.body, "test client") {
		t.Fatalf("consent page: %d\n%s", consent.StatusCode, consent.body)
	}
	checkPageHeaders(t, consent.Response)
	for _, want := range []string{"See your email address", "Keep access while you are not using it", "https://api.example.com", `value="allow"`, `value="deny"`} {
		if !strings.Contains(consent.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if csp := consent.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://app.example.com") {
		t.Errorf("CSP form-action does not allow the redirect origin: %q", csp)
	}
	code := b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "state-1")

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != u.ID {
		t.Fatalf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	// The code is bound to the verifier: replaying it fails.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a code was redeemed twice")
	}

	// Consent is remembered: the next authorization skips the page.
	verifier2 := oauth2.GenerateVerifier()
	p := b.get(conf.AuthCodeURL("state-2", oauth2.S256ChallengeOption(verifier2)))
	code2 := b.codeFrom(p, c.RedirectURIs[0], "state-2")
	if _, err := conf.Exchange(ctx, code2, oauth2.VerifierOption(verifier2)); err != nil {
		t.Fatalf("second Exchange: %v", err)
	}

	consents, err := ts.ListConsents(ctx, u.ID)
	if err != nil || len(consents) != 1 || consents[0].ClientID != c.ID {
		t.Fatalf("ListConsents = %v, %v", consents, err)
	}
	if err := ts.RevokeConsent(ctx, "admin", u.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := ts.RevokeConsent(ctx, "admin", u.ID, c.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("second revoke: %v", err)
	}
	// The refresh token died with the consent.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("refresh token works after the consent was revoked")
	}
	// And the consent page is back.
	p = b.get(conf.AuthCodeURL("state-3", oauth2.S256ChallengeOption(verifier2)))
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("no consent page after revocation: %d", p.StatusCode)
	}
}

func TestConsentDenied(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	b := newBrowser(t, ts)
	consent := b.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	p := b.submit(consent, url.Values{"decision": {"deny"}})
	wantRedirectError(t, p, c.RedirectURIs[0], "st-123", CodeAccessDenied)
	if cs, err := ts.ListConsents(context.Background(), u.ID); err != nil || len(cs) != 0 {
		t.Fatalf("a denied request left a consent: %v, %v", cs, err)
	}
}
