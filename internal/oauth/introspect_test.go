package oauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/verify"
)

func TestIntrospection(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretPost)
	u := ts.mustUser("alice")
	m := ts.signIn(t, c, secret, u)
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)
	introspect := func(token string, basic ...string) map[string]any {
		t.Helper()
		return decode(t, ts.post(PathIntrospect, url.Values{"token": {token}}, basic...), http.StatusOK)
	}

	t.Run("active access token", func(t *testing.T) {
		got := introspect(access, c.ID, secret)
		want := map[string]any{"active": true, "scope": "offline_access openid read write", "client_id": c.ID, "sub": u.ID,
			"iss": ts.URL, "token_type": "Bearer"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		for _, k := range []string{"exp", "iat", "jti", "aud"} {
			if got[k] == nil {
				t.Errorf("%s missing", k)
			}
		}
	})
	t.Run("access tokens are described to other confidential clients", func(t *testing.T) {
		got := decode(t, ts.post(PathIntrospect, url.Values{"token": {access}, "client_id": {other.ID}, "client_secret": {otherSecret}}), http.StatusOK)
		if got["active"] != true {
			t.Errorf("got %v", got)
		}
	})
	t.Run("refresh token only to its client", func(t *testing.T) {
		got := introspect(refresh, c.ID, secret)
		if got["active"] != true || got["token_type"] != "refresh_token" || got["client_id"] != c.ID || got["sub"] != u.ID || got["exp"] == nil {
			t.Errorf("got %v", got)
		}
		got = decode(t, ts.post(PathIntrospect, url.Values{"token": {refresh}, "client_id": {other.ID}, "client_secret": {otherSecret}}), http.StatusOK)
		if len(got) != 1 || got["active"] != false {
			t.Errorf("another client saw %v", got)
		}
	})
	inactive := map[string]string{
		"garbage":           "garbage",
		"malformed refresh": "gate_rt_x",
		"forged JWT":        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
	}
	unknown, _, _ := ts.hasher.New(PrefixRefreshToken)
	inactive["unknown refresh"] = unknown
	// A token signed by a key that is not ours, with our issuer.
	foreign := assertion(t, (ts.jwtClient(t)).key, map[string]any{"iss": ts.URL, "sub": u.ID, "exp": ts.Clock.Now().Add(time.Hour).Unix(), "jti": "x", "client_id": c.ID})
	inactive["signed by another key"] = foreign
	// Our own key, but another issuer, or an ID token offered as an
	// access token (typ JWT, not at+jwt).
	wrongIss, err := ts.Keys.Sign("at+jwt", verify.Claims{Issuer: "https://evil.example.com", Subject: u.ID, ClientID: c.ID,
		ID: "j1", ExpiresAt: ts.Clock.Now().Add(time.Hour), IssuedAt: ts.Clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	inactive["wrong issuer"] = wrongIss
	inactive["ID token"] = m["id_token"].(string)
	for name, tok := range inactive {
		t.Run(name, func(t *testing.T) {
			if got := introspect(tok, c.ID, secret); len(got) != 1 || got["active"] != false {
				t.Errorf("got %v", got)
			}
		})
	}
	t.Run("expired access token", func(t *testing.T) {
		cc := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret), http.StatusOK)
		ts.Clock.Add(DefaultAccessTokenTTL + time.Minute)
		if got := introspect(cc["access_token"].(string), c.ID, secret); got["active"] != false {
			t.Errorf("got %v", got)
		}
	})
	t.Run("used refresh token", func(t *testing.T) {
		mm := ts.signIn(t, c, secret, u)
		decode(t, ts.refresh(c, secret, mm["refresh_token"].(string), nil), http.StatusOK)
		if got := introspect(mm["refresh_token"].(string), c.ID, secret); got["active"] != false {
			t.Errorf("got %v", got)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		bob := ts.mustUser("bob")
		mm := ts.signIn(t, c, secret, bob)
		ts.Accounts.Disable(context.Background(), "test", bob.ID)
		for _, tok := range []string{mm["access_token"].(string), mm["refresh_token"].(string)} {
			if got := introspect(tok, c.ID, secret); got["active"] != false {
				t.Errorf("got %v", got)
			}
		}
	})
	t.Run("public clients may not introspect", func(t *testing.T) {
		pc, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}})
		wantError(t, ts.post(PathIntrospect, url.Values{"token": {access}, "client_id": {pc.ID}}), http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("unauthenticated", func(t *testing.T) {
		wantError(t, ts.post(PathIntrospect, url.Values{"token": {access}}), http.StatusUnauthorized, CodeInvalidClient)
	})
}
