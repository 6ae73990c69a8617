package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

const testFirstPartyID = "cli_gatehouse-console"

// firstPartyFixture is a server with one first-party public client, as the
// dashboard is, and a user.
type firstPartyFixture struct {
	ts   *testServer
	c    *auth.Client
	user *auth.User
	conf *oauth2.Config
}

func newFirstPartyFixture(t *testing.T) *firstPartyFixture {
	t.Helper()
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.FirstPartyClients = []string{testFirstPartyID} })
	c, err := ts.Clients.EnsureFirstParty(context.Background(), testFirstPartyID, client.Input{
		Name: "Console", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs:           []string{ts.URL + "/console/callback"},
		PostLogoutRedirectURIs: []string{ts.URL + "/console/signed-out"},
		GrantTypes:             []string{auth.GrantAuthorizationCode},
		Scopes:                 []string{"openid", "profile"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &firstPartyFixture{ts: ts, c: c, user: ts.mustUser("alice"), conf: &oauth2.Config{
		ClientID: c.ID, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid", "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInParams},
	}}
}

// signIn runs the whole flow for the first-party client and returns the
// ID token: the code comes straight after the login form.
func (f *firstPartyFixture) signIn(t *testing.T, b *browser, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	p := b.login(f.conf.AuthCodeURL("st", append(opts, oauth2.S256ChallengeOption(verifier))...), "alice", testPassword)
	code := b.codeFrom(p, f.c.RedirectURIs[0], "st")
	tok, err := f.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no ID token")
	}
	return idt
}

func (f *firstPartyFixture) signedIn(t *testing.T, b *browser) bool {
	t.Helper()
	p := b.get(f.ts.authorizeURL(authParams(f.c)))
	return p.location(t).Path != PathLogin
}

func TestFirstPartyClientSkipsConsent(t *testing.T) {
	t.Parallel()
	f := newFirstPartyFixture(t)
	b := newBrowser(t, f.ts)
	f.signIn(t, b)
	if _, err := f.ts.Store.GetConsent(context.Background(), f.user.ID, f.c.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a consent was recorded for the first-party client: %v", err)
	}
	// Signed in already, even prompt=consent goes straight back.
	b.codeFrom(b.get(f.ts.authorizeURL(authParams(f.c, "prompt", "consent"))), f.c.RedirectURIs[0], "st-123")

	// An ordinary client of the same server still asks.
	other, _ := f.ts.mustClient(client.Input{RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "profile"}})
	p := b.get(f.ts.authorizeURL(authParams(other)))
	if p.StatusCode != 200 || !strings.Contains(p.body, `name="decision"`) {
		t.Fatalf("an ordinary client got no consent page: %d\n%s", p.StatusCode, p.body)
	}
}

func TestFirstPartyClientsMustBeClientIDs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cfg := ts.cfg
	cfg.FirstPartyClients = []string{"dashboard"}
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a first-party client that is not a client ID")
	}
}

// The dashboard keeps its ID token as long as its own session (12 h) and
// hands it back at sign-out: expired long ago, it still ends the session
// at once (OIDC RP-Initiated Logout 2).
func TestLogoutWithLongExpiredIDTokenHint(t *testing.T) {
	t.Parallel()
	f := newFirstPartyFixture(t)
	b := newBrowser(t, f.ts)
	idt := f.signIn(t, b)
	f.ts.Clock.Add(DefaultSessionTTL - 30*time.Minute)
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {f.c.PostLogoutRedirectURIs[0]}, "state": {"out"}}
	p := b.get(f.ts.URL + PathLogout + "?" + q.Encode())
	if loc := p.location(t); loc.String() != f.c.PostLogoutRedirectURIs[0]+"?state=out" {
		t.Fatalf("redirected to %s", loc)
	}
	if f.signedIn(t, b) {
		t.Fatal("still signed in after logout")
	}
}

// A hint that is not this issuer's valid signature identifies nothing:
// the user is asked to confirm and stays signed in meanwhile.
func TestLogoutRefusesForgedIDTokenHints(t *testing.T) {
	t.Parallel()
	f := newFirstPartyFixture(t)
	b := newBrowser(t, f.ts)
	idt := f.signIn(t, b)
	parts := strings.Split(idt, ".")

	sig := []byte(parts[2])
	sig[len(sig)/2] ^= 1 // still base64url, no longer the signature
	badSig := parts[0] + "." + parts[1] + "." + string(sig)

	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["iss"] = "https://other.example.com"
	otherIssuer, err := f.ts.Keys.Sign(typIDToken, claims)
	if err != nil {
		t.Fatal(err)
	}
	for name, hint := range map[string]string{"bad signature": badSig, "other issuer": otherIssuer} {
		q := url.Values{"id_token_hint": {hint}, "client_id": {f.c.ID}, "post_logout_redirect_uri": {f.c.PostLogoutRedirectURIs[0]}}
		p := b.get(f.ts.URL + PathLogout + "?" + q.Encode())
		if p.StatusCode != 200 || !strings.Contains(p.body, `name="confirm"`) {
			t.Fatalf("%s: no confirmation page: %d %s", name, p.StatusCode, p.body)
		}
		if !f.signedIn(t, b) {
			t.Fatalf("%s: the session ended", name)
		}
	}
}
