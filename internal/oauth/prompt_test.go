package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// oidcFlow is a relying party built on x/oauth2 and go-oidc.
type oidcFlow struct {
	t        *testing.T
	ts       *testServer
	conf     *oauth2.Config
	provider *oidc.Provider
}

func newOIDCFlow(t *testing.T, ts *testServer, c *auth.Client, secret string, scopes ...string) *oidcFlow {
	provider, err := oidc.NewProvider(context.Background(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcFlow{t: t, ts: ts, provider: provider, conf: &oauth2.Config{ClientID: c.ID, ClientSecret: secret,
		Endpoint: provider.Endpoint(), RedirectURL: c.RedirectURIs[0], Scopes: scopes}}
}

// authURL returns an authorization URL and its PKCE verifier.
func (f *oidcFlow) authURL(params ...string) (string, string) {
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for i := 0; i+1 < len(params); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
	}
	return f.conf.AuthCodeURL("st", opts...), verifier
}

// exchange redeems the code and returns the verified ID token's claims
// and the token.
func (f *oidcFlow) exchange(code, verifier string) (map[string]any, *oauth2.Token) {
	f.t.Helper()
	ctx := context.Background()
	tok, err := f.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		f.t.Fatalf("Exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := f.provider.Verifier(&oidc.Config{ClientID: f.conf.ClientID, Now: f.ts.Clock.Now}).Verify(ctx, raw)
	if err != nil {
		f.t.Fatalf("verify ID token: %v", err)
	}
	var claims map[string]any
	idt.Claims(&claims)
	return claims, tok
}

// TestAuthTimeAfterReauthentication: prompt=login and an exceeded max_age
// make the user sign in again, and the ID token's auth_time (read by
// go-oidc) is the new sign-in's; a max_age the session meets keeps it.
func TestAuthTimeAfterReauthentication(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	f := newOIDCFlow(t, ts, c, secret, "openid")
	b := newBrowser(t, ts)

	u, v := f.authURL()
	consent := b.login(u, "alice", testPassword)
	first, _ := f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), v)
	t0 := int64(first["auth_time"].(float64))
	if t0 != ts.Clock.Now().Unix() {
		t.Fatalf("auth_time %d, want the sign-in's %d", t0, ts.Clock.Now().Unix())
	}
	if first["sid"] == nil {
		t.Fatal("no sid in the ID token")
	}

	ts.Clock.Add(5 * time.Minute)
	u, v = f.authURL("prompt", "login")
	claims, _ := f.exchange(b.codeFrom(b.login(u, "alice", testPassword), c.RedirectURIs[0], "st"), v)
	if got := int64(claims["auth_time"].(float64)); got != t0+300 {
		t.Fatalf("auth_time after prompt=login: %d, want %d", got, t0+300)
	}

	ts.Clock.Add(5 * time.Minute)
	u, v = f.authURL("max_age", "3600")
	claims, _ = f.exchange(b.codeFrom(b.get(u), c.RedirectURIs[0], "st"), v)
	if got := int64(claims["auth_time"].(float64)); got != t0+300 {
		t.Fatalf("auth_time with a max_age the session meets: %d, want %d", got, t0+300)
	}
	u, v = f.authURL("max_age", "60")
	claims, _ = f.exchange(b.codeFrom(b.login(u, "alice", testPassword), c.RedirectURIs[0], "st"), v)
	if got := int64(claims["auth_time"].(float64)); got != t0+600 {
		t.Fatalf("auth_time after max_age=60: %d, want %d", got, t0+600)
	}
}

// TestClaimsParameterAndACR: the claims parameter puts the standard claims
// it asks for in the ID token, and those asked for in userinfo in the
// UserInfo response (through the scope that covers them, shown on the
// consent page); acr_values naming the server's class get the acr claim.
func TestClaimsParameterAndACR(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	f := newOIDCFlow(t, ts, c, secret, "openid")
	b := newBrowser(t, ts)

	claimsParam := `{"id_token":{"name":null,"email":{"essential":true},"nickname":null},"userinfo":{"email_verified":null}}`
	authURL, v := f.authURL("claims", claimsParam, "acr_values", "urn:other "+ACRPassword)
	consent := b.login(authURL, "alice", testPassword)
	if !strings.Contains(consent.body, "See your email address") {
		t.Fatalf("the consent page does not show the email scope the claims asked for:\n%s", consent.body)
	}
	claims, tok := f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), v)
	if claims["name"] != u.Name || claims["email"] != u.Email || claims["acr"] != ACRPassword {
		t.Fatalf("ID token claims %v", claims)
	}
	if _, ok := claims["preferred_username"]; ok {
		t.Fatal("a claim nobody asked for is in the ID token")
	}
	info, err := f.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if info.Email != u.Email || !info.EmailVerified {
		t.Fatalf("userinfo %+v", info)
	}

	// Without a claims request, no extra claims; acr and amr always say
	// how the user signed in.
	authURL, v = f.authURL()
	claims, _ = f.exchange(b.codeFrom(b.get(authURL), c.RedirectURIs[0], "st"), v)
	for _, k := range []string{"name", "email"} {
		if _, ok := claims[k]; ok {
			t.Errorf("unrequested claim %s in the ID token", k)
		}
	}
	if claims["acr"] != ACRPassword || fmt.Sprint(claims["amr"]) != "[pwd]" {
		t.Errorf("acr %v, amr %v", claims["acr"], claims["amr"])
	}

	// An essential acr the server cannot satisfy, and a malformed claims
	// parameter, go back to the client as errors.
	authURL, _ = f.authURL("claims", `{"id_token":{"acr":{"essential":true,"values":["urn:mace:incommon:iap:silver"]}}}`)
	wantRedirectError(t, b.get(authURL), c.RedirectURIs[0], "st", CodeUnmetAuthenticationRequirements)
	authURL, _ = f.authURL("claims", `{"id_token":`)
	wantRedirectError(t, b.get(authURL), c.RedirectURIs[0], "st", CodeInvalidRequest)
}

// TestClaimsParameterNeedsConsent is the attack of a client the user
// allowed only openid: with prompt=none and a claims parameter asking for
// the email in the ID token, it must get consent_required, not a code
// whose ID token carries the email; and a code whose claims outrun its
// scopes (a row written by an older server, or by hand) yields an ID
// token without them.
func TestClaimsParameterNeedsConsent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	f := newOIDCFlow(t, ts, c, secret, "openid")
	b := newBrowser(t, ts)

	authURL, v := f.authURL()
	consent := b.login(authURL, "alice", testPassword)
	claims, _ := f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), v)
	if _, ok := claims["email"]; ok {
		t.Fatalf("email without asking: %v", claims)
	}

	authURL, _ = f.authURL("prompt", "none", "claims", `{"id_token":{"email":{"essential":true},"name":null}}`)
	p := b.get(authURL)
	if loc := p.location(t); loc.Query().Get("code") != "" {
		t.Fatalf("prompt=none with id_token claims beyond the consented scopes got a code: %s", loc)
	}
	wantRedirectError(t, p, c.RedirectURIs[0], "st", CodeConsentRequired)

	// Without prompt=none the consent page asks for the covering scopes.
	authURL, v = f.authURL("claims", `{"id_token":{"email":null}}`)
	consent = b.get(authURL)
	if !strings.Contains(consent.body, "See your email address") {
		t.Fatalf("the consent page does not show the email scope the ID token claims need:\n%s", consent.body)
	}
	claims, _ = f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), v)
	if claims["email"] != u.Email {
		t.Fatalf("email not in the ID token after consent: %v", claims)
	}

	// The token endpoint checks again: claims the code's scopes do not cover stay out.
	code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: []string{"openid"}, idClaims: []string{"email", "name"}})
	claims, _ = f.exchange(code, verifier)
	for _, k := range []string{"email", "name"} {
		if _, ok := claims[k]; ok {
			t.Errorf("claim %s in the ID token of a code with scope openid only: %v", k, claims)
		}
	}
}

// TestPromptSelectAccount: the login page offers the signed-in account,
// whose "continue" goes on without a password; another account can sign
// in instead; a "continue" without the session's token is refused.
func TestPromptSelectAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	bob := ts.mustUser("bob")
	f := newOIDCFlow(t, ts, c, secret, "openid")
	b := newBrowser(t, ts)
	authURL, _ := f.authURL()
	b.codeFrom(b.submit(b.login(authURL, "alice", testPassword), url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st")

	authURL, _ = f.authURL("prompt", "select_account")
	p := b.get(authURL)
	if p.location(t).Path != PathLogin {
		t.Fatalf("select_account went to %s, want the login page", p.location(t))
	}
	lp := b.get(p.Request.URL.ResolveReference(p.location(t)).String())
	if !strings.Contains(lp.body, "Continue as Test alice (alice)") {
		t.Fatalf("the login page does not offer the current account:\n%s", lp.body)
	}
	// The continue form is the first form of the page; a forged one (no
	// valid token) is refused.
	forged := b.submit(lp, url.Values{"continue": {"yes"}, "csrf_token": {"x"}})
	if forged.StatusCode != http.StatusForbidden {
		t.Fatalf("forged continue: %d", forged.StatusCode)
	}
	b.codeFrom(b.submit(lp, url.Values{"continue": {"yes"}}), c.RedirectURIs[0], "st")

	// Switching account: bob signs in on the same page.
	authURL, v := f.authURL("prompt", "select_account")
	p = b.get(authURL)
	lp = b.get(p.Request.URL.ResolveReference(p.location(t)).String())
	second := &page{Response: lp.Response, body: lp.body[strings.LastIndex(lp.body, "<form"):]}
	consent := b.submit(second, url.Values{"username": {"bob"}, "password": {testPassword}})
	claims, _ := f.exchange(b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st"), v)
	if claims["sub"] != bob.ID {
		t.Fatalf("signed in as %v, want bob", claims["sub"])
	}
}

// TestFormPostResponse checks the form-post page without a browser: the
// code, state and iss as hidden fields posted to the redirect URI, a CSP
// whose script-src allows exactly the page's script by its hash, and
// errors (prompt=none without a session) delivered the same way.
func TestFormPostResponse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	b := newBrowser(t, ts)

	p := b.get(ts.authorizeURL(authParams(c, "prompt", "none", "response_mode", "form_post")))
	wantFormPost(t, p, c.RedirectURIs[0], map[string]string{"error": CodeLoginRequired, "state": "st-123", "iss": ts.URL})

	consent := b.login(ts.authorizeURL(authParams(c, "response_mode", "form_post")), "alice", testPassword)
	p = b.submit(consent, url.Values{"decision": {"allow"}})
	fields := wantFormPost(t, p, c.RedirectURIs[0], map[string]string{"state": "st-123", "iss": ts.URL})
	if !strings.HasPrefix(fields["code"], PrefixAuthCode) {
		t.Fatalf("no code in the form: %v", fields)
	}
	// An unknown response_mode is refused, in the query.
	wantRedirectError(t, b.get(ts.authorizeURL(authParams(c, "response_mode", "fragment"))), c.RedirectURIs[0], "st-123", CodeInvalidRequest)
}

// TestFormPostPrivateUseScheme: form_post to a native app's private-use
// redirect URI cannot work (the browser drops the POST body handing the
// URI to the OS, and html/template turns the action into #ZgotmplZ): it
// is refused with invalid_request, in the query the app does receive.
func TestFormPostPrivateUseScheme(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"com.example.app:/cb"}, Scopes: []string{"openid", "profile"}})
	b := newBrowser(t, ts)
	// prompt=none: without a session the error would be a form page at once.
	p := b.get(ts.authorizeURL(authParams(c, "response_mode", "form_post", "prompt", "none")))
	if strings.Contains(p.body, "ZgotmplZ") || p.StatusCode == http.StatusOK {
		t.Fatalf("form_post to a private-use scheme answered a form page (status %d):\n%s", p.StatusCode, p.body)
	}
	wantRedirectError(t, p, c.RedirectURIs[0], "st-123", CodeInvalidRequest)
}

func wantFormPost(t *testing.T, p *page, action string, want map[string]string) map[string]string {
	t.Helper()
	if p.StatusCode != http.StatusOK || p.Header.Get("Location") != "" {
		t.Fatalf("status %d, Location %q; want the form-post page", p.StatusCode, p.Header.Get("Location"))
	}
	if !strings.Contains(p.body, `<form method="post" action="`+action+`">`) {
		t.Fatalf("the form does not post to %s:\n%s", action, p.body)
	}
	fields := map[string]string{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(p.body, -1) {
		fields[m[1]] = strings.ReplaceAll(m[2], "&#43;", "+")
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, fields[k], v)
		}
	}
	csp := p.Header.Get("Content-Security-Policy")
	script := regexp.MustCompile(`<script>([^<]*)</script>`).FindStringSubmatch(p.body)
	if script == nil {
		t.Fatal("no auto-submit script")
	}
	sum := sha256.Sum256([]byte(script[1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if !strings.Contains(csp, "script-src "+hash+";") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q does not allow exactly the script by its hash %s", csp, hash)
	}
	if !strings.Contains(csp, "form-action 'self' https://app.example.com") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	return fields
}

// FuzzClaimsParam: the claims parameter comes from anyone's browser.
func FuzzClaimsParam(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"id_token":{"acr":{"essential":true,"values":["a",1,null]}}}`,
		`{"userinfo":{"email":null}}`, `[]`, `{"id_token":{"name":{"value":{}}}}`, `{"a":1}{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseClaimsParam(raw)
		if err != nil {
			if asError(err).Code != CodeInvalidRequest {
				t.Fatalf("error %v", err)
			}
			return
		}
		for _, r := range c.IDToken {
			r.stringValues()
		}
	})
}
