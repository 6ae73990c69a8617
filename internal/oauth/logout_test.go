package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// logoutFixture is a signed-in browser with an ID token of its session.
type logoutFixture struct {
	ts      *testServer
	c       *auth.Client
	b       *browser
	idToken string
}

func newLogoutFixture(t *testing.T) *logoutFixture {
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.mustClient(client.Input{
		RedirectURIs:           []string{"https://app.example.com/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye"},
		Scopes:                 []string{"openid"},
	})
	ts.mustUser("alice")
	b := newBrowser(t, ts)
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	consent := b.login(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", testPassword)
	code := b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "s")
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no ID token")
	}
	return &logoutFixture{ts: ts, c: c, b: b, idToken: idt}
}

// signedIn reports whether the browser's session still authorizes.
func (f *logoutFixture) signedIn(t *testing.T) bool {
	t.Helper()
	p := f.b.get(f.ts.authorizeURL(authParams(f.c, "scope", "openid")))
	return p.location(t).Path != PathLogin
}

func TestLogoutWithIDTokenHint(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	// Even an expired ID token identifies the session.
	f.ts.Clock.Add(DefaultIDTokenTTL * 2)
	q := url.Values{"id_token_hint": {f.idToken}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"bye-1"}}
	p := f.b.get(f.ts.URL + PathLogout + "?" + q.Encode())
	if loc := p.location(t); loc.String() != "https://app.example.com/bye?state=bye-1" {
		t.Fatalf("redirected to %s", loc)
	}
	if f.signedIn(t) {
		t.Fatal("still signed in after logout")
	}
}

func TestLogoutRedirectsOnlyToRegisteredURIs(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	for _, uri := range []string{"https://evil.example/bye", "https://app.example.com/bye/", "https://app.example.com/cb", "https://app.example.com/bye?x=1"} {
		q := url.Values{"id_token_hint": {f.idToken}, "post_logout_redirect_uri": {uri}}
		p := f.b.get(f.ts.URL + PathLogout + "?" + q.Encode())
		if p.StatusCode != http.StatusOK || p.Header.Get("Location") != "" || !strings.Contains(p.body, "signed out") {
			t.Fatalf("%s: %d, Location %q", uri, p.StatusCode, p.Header.Get("Location"))
		}
		checkPageHeaders(t, p.Response)
	}
	// Without a client (no hint, no client_id) there is nothing to match.
	p := f.b.get(f.ts.URL + PathLogout + "?" + url.Values{"post_logout_redirect_uri": {"https://app.example.com/bye"}}.Encode())
	if p.Header.Get("Location") != "" {
		t.Fatal("redirected without knowing the client")
	}
	// A hint for another client than client_id is refused.
	other, _ := f.ts.mustClient(client.Input{RedirectURIs: []string{"https://o.example/cb"}, Scopes: []string{"openid"}})
	q := url.Values{"id_token_hint": {f.idToken}, "client_id": {other.ID}}
	wantErrorPage(t, f.b.get(f.ts.URL+PathLogout+"?"+q.Encode()), http.StatusBadRequest)
}

// Without a valid id_token_hint the user confirms on a page whose form is
// bound to the session; a forged confirmation ends nothing.
func TestLogoutConfirmation(t *testing.T) {
	t.Parallel()
	f := newLogoutFixture(t)
	q := url.Values{"client_id": {f.c.ID}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"x"}, "id_token_hint": {"not.a.token"}}
	p := f.b.get(f.ts.URL + PathLogout + "?" + q.Encode())
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `name="confirm"`) {
		t.Fatalf("no confirmation page: %d %s", p.StatusCode, p.body)
	}
	checkPageHeaders(t, p.Response)
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://app.example.com") {
		t.Errorf("CSP %q does not allow the post-logout redirect", csp)
	}
	if !f.signedIn(t) {
		t.Fatal("GET logout without a hint ended the session")
	}
	form := p.form(t)
	forged := url.Values{"confirm": {"yes"}, "client_id": {f.c.ID}}
	if fp := f.b.post(form.action, forged); fp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged confirmation: %d", fp.StatusCode)
	}
	changed := url.Values{}
	for k, vs := range form.fields {
		changed[k] = vs
	}
	changed.Set("confirm", "yes")
	changed.Set("state", "tampered")
	if fp := f.b.post(form.action, changed); fp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered confirmation: %d", fp.StatusCode)
	}
	if fp := f.b.post(form.action, url.Values{"confirm": {"yes"}, "csrf_token": form.fields["csrf_token"]}, "Sec-Fetch-Site", "cross-site"); fp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site confirmation: %d", fp.StatusCode)
	}
	if !f.signedIn(t) {
		t.Fatal("a forged confirmation ended the session")
	}
	done := f.b.submit(p, url.Values{"confirm": {"yes"}})
	if loc := done.location(t); loc.String() != "https://app.example.com/bye?state=x" {
		t.Fatalf("redirected to %s", loc)
	}
	if f.signedIn(t) {
		t.Fatal("still signed in after the confirmed logout")
	}
	// Logging out without a session shows the signed-out page.
	if p := f.b.get(f.ts.URL + PathLogout); p.StatusCode != http.StatusOK || !strings.Contains(p.body, "signed out") {
		t.Fatalf("logout without a session: %d", p.StatusCode)
	}
}
