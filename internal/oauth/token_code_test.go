package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

func (ts *testServer) oauth2Config(c *auth.Client, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.AuthMethod != auth.AuthMethodSecretBasic {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize, TokenURL: ts.URL + PathToken, AuthStyle: style},
	}
}

func TestCodeExchangeWithRealClients(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	scopes := []string{"email", "offline_access", "openid", "profile", "read"}
	code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: scopes, nonce: "n-0S6_WzA2Mj"})

	cfg := ts.oauth2Config(c, secret)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, PrefixRefreshToken) {
		t.Fatalf("refresh token %q", tok.RefreshToken)
	}
	if got := tok.Extra("scope"); got != strings.Join(scopes, " ") {
		t.Errorf("scope %v", got)
	}
	at, err := ts.verifyAccess(tok.AccessToken, "https://api.example.com")
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if at.Subject != u.ID || at.ClientID != c.ID || at.AuthTime.IsZero() {
		t.Errorf("access token claims %+v", at)
	}

	// The ID token, checked by go-oidc against our discovery and JWKS.
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != "n-0S6_WzA2Mj" || idt.Subject != u.ID {
		t.Errorf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	// userinfo through go-oidc.
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
	}
	info.Claims(&claims)
	if info.Subject != u.ID || info.Email != "alice@example.com" || !info.EmailVerified ||
		claims.Name != "Test alice" || claims.PreferredUsername != "alice" {
		t.Errorf("userinfo %+v %+v", info, claims)
	}

	// TokenSource refreshes an expired token with the refresh token and
	// rotates it.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	ts.Clock.Add(time.Minute)
	next, err := cfg.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken || next.RefreshToken == "" {
		t.Errorf("refresh did not rotate")
	}
	if _, ok := next.Extra("id_token").(string); !ok {
		t.Errorf("no ID token on refresh with openid")
	}
}

func TestCodeExchangeWithoutOfflineAccessHasNoRefreshToken(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretPost)
	code, verifier, _ := ts.issueCode(c, ts.mustUser("bob"), codeOpts{scopes: []string{"read"}})
	tok, err := ts.oauth2Config(c, secret).Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Errorf("refresh %q, id_token %v: neither was granted", tok.RefreshToken, tok.Extra("id_token"))
	}
}

func TestPublicClientCodeExchange(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.mustClient(client.Input{
		Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"},
		Scopes: []string{"openid", "offline_access"},
	})
	if secret != "" {
		t.Fatalf("a public client got a secret")
	}
	code, verifier, _ := ts.issueCode(c, ts.mustUser("carol"), codeOpts{
		scopes: []string{"offline_access", "openid"}, redirect: "http://127.0.0.1:49152/cb", audiences: []string{ts.URL},
	})
	m := decode(t, ts.post(PathToken, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:49152/cb"}, "client_id": {c.ID},
	}), http.StatusOK)
	if m["refresh_token"] == nil || m["id_token"] == nil {
		t.Errorf("response %v", m)
	}
}

func TestCodeAttacks(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("dave")
	scopes := []string{"offline_access", "openid", "read"}
	exchange := func(code, verifier string, extra url.Values, basic ...string) *http.Response {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}}
		if verifier != "" {
			f.Set("code_verifier", verifier)
		}
		for k, v := range extra {
			f[k] = v
		}
		if len(basic) == 0 {
			basic = []string{c.ID, secret}
		}
		return ts.post(PathToken, f, basic...)
	}

	t.Run("reused code revokes the tokens issued from it", func(t *testing.T) {
		code, verifier, family := ts.issueCode(c, u, codeOpts{scopes: scopes})
		m := decode(t, exchange(code, verifier, nil), http.StatusOK)
		access, refresh := m["access_token"].(string), m["refresh_token"].(string)
		if !introspectActive(t, ts, c, secret, access) || !introspectActive(t, ts, c, secret, refresh) {
			t.Fatal("fresh tokens are not active")
		}
		wantError(t, exchange(code, verifier, nil), http.StatusBadRequest, CodeInvalidGrant)
		if introspectActive(t, ts, c, secret, access) || introspectActive(t, ts, c, secret, refresh) {
			t.Error("tokens of a replayed code stay active")
		}
		claims, _ := ts.verifyAccess(access, "")
		if revoked, err := ts.Store.IsTokenRevoked(context.Background(), claims.ID); err != nil || !revoked {
			t.Errorf("jti not on the revocation list: %v %v", revoked, err)
		}
		wantError(t, ts.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, c.ID, secret),
			http.StatusBadRequest, CodeInvalidGrant)
		events, _, err := ts.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventFamilyRevoked})
		if err != nil || len(events) != 1 || events[0].Details["family_id"] != family || events[0].Reason != "authorization_code_reused" {
			t.Errorf("audit events %+v, %v", events, err)
		}
	})
	for _, tc := range []struct {
		name     string
		opts     codeOpts
		verifier func(v string) string
		extra    url.Values
		basic    []string
		code     string
	}{
		{name: "missing verifier", verifier: func(string) string { return "" }, code: CodeInvalidGrant},
		{name: "wrong verifier", verifier: func(string) string { return newVerifier() }, code: CodeInvalidGrant},
		{name: "plain verifier (downgrade)", opts: codeOpts{challenge: "plain-challenge-plain-challenge-plain-challenge"},
			verifier: func(string) string { return "plain-challenge-plain-challenge-plain-challenge" }, code: CodeInvalidGrant},
		{name: "short verifier", verifier: func(string) string { return "abc" }, code: CodeInvalidGrant},
		{name: "verifier with a bad character", verifier: func(v string) string { return v[:42] + "+" }, code: CodeInvalidGrant},
		{name: "redirect URI mismatch", extra: url.Values{"redirect_uri": {"https://app.example.com/cb/"}}, code: CodeInvalidGrant},
		{name: "code of another client", basic: []string{other.ID, otherSecret}, code: CodeInvalidGrant},
		{name: "resource not granted", extra: url.Values{"resource": {"https://other.example.com"}}, code: CodeInvalidTarget},
		{name: "malformed code", code: CodeInvalidGrant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier, _ := ts.issueCode(c, u, tc.opts)
			if tc.name == "malformed code" {
				// Another last character (one code in 64 ends in "x" already).
				last := "x"
				if strings.HasSuffix(code, "x") {
					last = "y"
				}
				code = code[:len(code)-1] + last
			}
			if tc.verifier != nil {
				verifier = tc.verifier(verifier)
			}
			wantError(t, exchange(code, verifier, tc.extra, tc.basic...), http.StatusBadRequest, tc.code)
			// The failed attempt used the code up.
			wantError(t, exchange(code, verifier, nil), http.StatusBadRequest, CodeInvalidGrant)
		})
	}
	t.Run("expired code", func(t *testing.T) {
		code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: scopes})
		ts.Clock.Add(ts.cfg.AuthCodeTTL)
		wantError(t, exchange(code, verifier, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("resource narrows the audiences", func(t *testing.T) {
		code, verifier, _ := ts.issueCode(c, u, codeOpts{audiences: []string{"https://api.example.com", "https://other.example.com"}})
		m := decode(t, exchange(code, verifier, url.Values{"resource": {"https://other.example.com"}}), http.StatusOK)
		claims, err := ts.verifyAccess(m["access_token"].(string), "")
		if err != nil || len(claims.Audience) != 1 || claims.Audience[0] != "https://other.example.com" {
			t.Fatalf("claims %+v %v", claims, err)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		eve := ts.mustUser("eve")
		code, verifier, _ := ts.issueCode(c, eve, codeOpts{scopes: scopes})
		if _, err := ts.Accounts.Disable(context.Background(), "test", eve.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, exchange(code, verifier, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
}

// introspectActive asks the introspection endpoint as client c.
func introspectActive(t *testing.T, ts *testServer, c *auth.Client, secret, token string) bool {
	t.Helper()
	m := decode(t, ts.post(PathIntrospect, url.Values{"token": {token}}, c.ID, secret), http.StatusOK)
	return m["active"] == true
}

// An EdDSA keyring: go-oidc checks the ID token's signature and its
// at_hash, which for Ed25519 is the left half of SHA-512.
func TestCodeExchangeWithEdDSAKeys(t *testing.T) {
	ctx := context.Background()
	keyDB, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keyDB.Close() })
	ts := newTestServer(t, func(cfg *Config) {
		sealer, err := signing.NewSealer(signing.DeriveMasterKey([]byte("an EdDSA test secret of 32 bytes or more")))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Keys, err = signing.New(ctx, keyDB, sealer, signing.Options{Algorithm: "EdDSA", Now: cfg.Now, Logger: cfg.Logger}); err != nil {
			t.Fatal(err)
		}
	})
	c, secret := ts.confidentialClient(auth.AuthMethodSecretPost)
	code, verifier, _ := ts.issueCode(c, ts.mustUser("alice"), codeOpts{scopes: []string{"openid"}})
	tok, err := ts.oauth2Config(c, secret).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{oidc.EdDSA}}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
}

// TestConcurrentCodeReplayLeavesNoTokenActive presents one code from many
// requests at once: one redeems it, the others are replays that revoke its
// family. Whatever the interleaving, no token issued from the code may be
// active afterwards — in particular not the winner's, even when a replay
// revoked the family while the winner was still storing its tokens.
func TestConcurrentCodeReplayLeavesNoTokenActive(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("erin")
	for round := range 5 {
		code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: []string{"offline_access", "openid", "read"}})
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
		var (
			mu     sync.Mutex
			issued []string
			wg     sync.WaitGroup
		)
		for range 6 {
			wg.Go(func() {
				resp := ts.post(PathToken, form, c.ID, secret)
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return
				}
				var m map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				issued = append(issued, m["access_token"].(string), m["refresh_token"].(string))
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, tok := range issued {
			if introspectActive(t, ts, c, secret, tok) {
				t.Fatalf("round %d: a token issued from a replayed code is active", round)
			}
		}
	}
}
