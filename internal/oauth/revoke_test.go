package oauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

func TestRevocation(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	revoke := func(token, hint string, basic ...string) {
		t.Helper()
		f := url.Values{"token": {token}}
		if hint != "" {
			f.Set("token_type_hint", hint)
		}
		resp := ts.post(PathRevoke, f, basic...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: status %d, headers %v", resp.StatusCode, resp.Header)
		}
	}

	t.Run("refresh token revokes its family", func(t *testing.T) {
		m := ts.signIn(t, c, secret, u)
		// A wrong hint does not stop the search.
		revoke(m["refresh_token"].(string), "access_token", c.ID, secret)
		if introspectActive(t, ts, c, secret, m["refresh_token"].(string)) || introspectActive(t, ts, c, secret, m["access_token"].(string)) {
			t.Error("tokens of a revoked family are active")
		}
		wantError(t, ts.refresh(c, secret, m["refresh_token"].(string), nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("access token goes on the revocation list", func(t *testing.T) {
		m := ts.signIn(t, c, secret, u)
		revoke(m["access_token"].(string), "", c.ID, secret)
		if introspectActive(t, ts, c, secret, m["access_token"].(string)) {
			t.Error("revoked access token is active")
		}
		if !introspectActive(t, ts, c, secret, m["refresh_token"].(string)) {
			t.Error("revoking an access token killed its refresh token")
		}
	})
	t.Run("expired access token signed by us is still listed", func(t *testing.T) {
		m := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret), http.StatusOK)
		at := m["access_token"].(string)
		claims, _ := ts.verifyAccess(at, "")
		ts.Clock.Add(DefaultAccessTokenTTL + time.Second) // past exp, within verifiers' leeway
		revoke(at, "access_token", c.ID, secret)
		if ok, err := ts.Store.IsTokenRevoked(context.Background(), claims.ID); err != nil || !ok {
			t.Errorf("expired token not on the list: %v %v", ok, err)
		}
	})
	t.Run("another client's tokens are left alone", func(t *testing.T) {
		m := ts.signIn(t, c, secret, u)
		revoke(m["refresh_token"].(string), "", other.ID, otherSecret)
		revoke(m["access_token"].(string), "", other.ID, otherSecret)
		if !introspectActive(t, ts, c, secret, m["refresh_token"].(string)) || !introspectActive(t, ts, c, secret, m["access_token"].(string)) {
			t.Error("another client revoked the tokens")
		}
	})
	t.Run("unknown and garbage tokens get 200", func(t *testing.T) {
		unknown, _, _ := ts.hasher.New(PrefixRefreshToken)
		for _, tok := range []string{unknown, "gate_rt_garbage", "eyJ.eyJ.sig", "whatever"} {
			revoke(tok, "refresh_token", c.ID, secret)
		}
	})
	t.Run("client authentication is required", func(t *testing.T) {
		wantError(t, ts.post(PathRevoke, url.Values{"token": {"x"}}), http.StatusUnauthorized, CodeInvalidClient)
		wantError(t, ts.post(PathRevoke, url.Values{}, c.ID, secret), http.StatusBadRequest, CodeInvalidRequest)
	})
	t.Run("a public client revokes its own refresh token", func(t *testing.T) {
		pc, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}, Scopes: []string{"offline_access"}})
		code, verifier, _ := ts.issueCode(pc, u, codeOpts{scopes: []string{"offline_access"}, audiences: []string{ts.URL}})
		m := decode(t, ts.post(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {pc.RedirectURIs[0]}, "client_id": {pc.ID}}), http.StatusOK)
		resp := ts.post(PathRevoke, url.Values{"token": {m["refresh_token"].(string)}, "client_id": {pc.ID}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		wantError(t, ts.post(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
			"client_id": {pc.ID}}), http.StatusBadRequest, CodeInvalidGrant)
	})
}
