package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// signIn exchanges a fresh code with offline_access and returns the
// response.
func (ts *testServer) signIn(t *testing.T, c *auth.Client, secret string, u *auth.User, scopes ...string) map[string]any {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"offline_access", "openid", "read", "write"}
	}
	code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: scopes, audiences: []string{"https://api.example.com", "https://other.example.com"}})
	return decode(t, ts.post(PathToken, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {c.RedirectURIs[0]},
	}, c.ID, secret), http.StatusOK)
}

func (ts *testServer) refresh(c *auth.Client, secret, token string, extra url.Values) *http.Response {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	for k, v := range extra {
		f[k] = v
	}
	return ts.post(PathToken, f, c.ID, secret)
}

func TestRefreshReuseWithoutGraceRevokesTheFamily(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	first := ts.signIn(t, c, secret, ts.mustUser("alice"))
	rt1 := first["refresh_token"].(string)

	second := decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)
	rt2 := second["refresh_token"].(string)
	if rt2 == rt1 {
		t.Fatal("the refresh token was not rotated")
	}
	ts.Clock.Add(time.Second)
	wantError(t, ts.refresh(c, secret, rt1, nil), http.StatusBadRequest, CodeInvalidGrant)
	// The whole family is dead: the current refresh token and every access
	// token issued in it.
	wantError(t, ts.refresh(c, secret, rt2, nil), http.StatusBadRequest, CodeInvalidGrant)
	for _, at := range []string{first["access_token"].(string), second["access_token"].(string)} {
		if introspectActive(t, ts, c, secret, at) {
			t.Error("an access token of a reused family is active")
		}
	}
}

func TestRefreshGraceWindow(t *testing.T) {
	ts := newTestServer(t, func(cfg *Config) { cfg.RefreshGrace = 10 * time.Second })
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("bob")

	t.Run("inside the window the old token works once more", func(t *testing.T) {
		rt1 := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		rt2 := decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)["refresh_token"].(string)
		ts.Clock.Add(5 * time.Second)
		rt3 := decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)["refresh_token"].(string)
		if rt3 == rt2 {
			t.Fatal("the retry got the same token")
		}
		// The retry is counted on the token itself, not with one-time
		// entries in the client-assertion replay table.
		hash, ok := ts.parseSecret(PrefixRefreshToken, rt1)
		if !ok {
			t.Fatal("the refresh token does not parse")
		}
		if got, err := ts.Store.GetRefreshToken(t.Context(), hash); err != nil || got.Presentations != 2 {
			t.Fatalf("retried token = %+v, %v; want 2 presentations", got, err)
		}
		for n := 1; n <= 2; n++ {
			jti := fmt.Sprintf("refresh:%x:%d", hash, n)
			if err := ts.Store.UseJTI(t.Context(), jti, ts.Clock.Now().Add(time.Hour), ts.Clock.Now()); err != nil {
				t.Fatalf("the retry left a one-time entry %s: %v", jti, err)
			}
		}
		// The family is intact.
		decode(t, ts.refresh(c, secret, rt3, nil), http.StatusOK)
	})
	t.Run("inside the window a second retry revokes the family", func(t *testing.T) {
		// The window lets a client that lost one response try once more;
		// a token presented a third time is in two hands, and the family
		// dies as it would without grace (RFC 9700 4.14.2).
		rt1 := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)
		ts.Clock.Add(2 * time.Second)
		rt3 := decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)["refresh_token"].(string)
		ts.Clock.Add(2 * time.Second)
		wantError(t, ts.refresh(c, secret, rt1, nil), http.StatusBadRequest, CodeInvalidGrant)
		wantError(t, ts.refresh(c, secret, rt3, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("outside the window reuse revokes the family", func(t *testing.T) {
		rt1 := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		rt2 := decode(t, ts.refresh(c, secret, rt1, nil), http.StatusOK)["refresh_token"].(string)
		ts.Clock.Add(11 * time.Second)
		wantError(t, ts.refresh(c, secret, rt1, nil), http.StatusBadRequest, CodeInvalidGrant)
		wantError(t, ts.refresh(c, secret, rt2, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
}

func TestRefreshRules(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("carol")

	t.Run("token of another client", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		wantError(t, ts.refresh(other, otherSecret, rt, nil), http.StatusBadRequest, CodeInvalidGrant)
		decode(t, ts.refresh(c, secret, rt, nil), http.StatusOK) // untouched for its owner
	})
	t.Run("scope may be narrowed", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		m := decode(t, ts.refresh(c, secret, rt, url.Values{"scope": {"read"}}), http.StatusOK)
		if m["scope"] != "read" || m["id_token"] != nil {
			t.Fatalf("narrowed response %v", m)
		}
		// The next refresh token keeps the full grant.
		m = decode(t, ts.refresh(c, secret, m["refresh_token"].(string), nil), http.StatusOK)
		if m["scope"] != "offline_access openid read write" {
			t.Errorf("scope after a narrowed refresh %v", m["scope"])
		}
	})
	t.Run("scope may not be widened", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u, "offline_access", "read")["refresh_token"].(string)
		wantError(t, ts.refresh(c, secret, rt, url.Values{"scope": {"read write"}}), http.StatusBadRequest, CodeInvalidScope)
	})
	t.Run("resource outside the grant", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		wantError(t, ts.refresh(c, secret, rt, url.Values{"resource": {"https://evil.example.com"}}), http.StatusBadRequest, CodeInvalidTarget)
		m := decode(t, ts.refresh(c, secret, rt, url.Values{"resource": {"https://other.example.com"}}), http.StatusOK)
		claims, err := ts.verifyAccess(m["access_token"].(string), "https://other.example.com")
		if err != nil || len(claims.Audience) != 1 {
			t.Errorf("claims %+v %v", claims, err)
		}
	})
	t.Run("idle lifetime", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		ts.Clock.Add(DefaultRefreshTokenTTL)
		wantError(t, ts.refresh(c, secret, rt, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("absolute lifetime caps rotation", func(t *testing.T) {
		rt := ts.signIn(t, c, secret, u)["refresh_token"].(string)
		// Used every 15 days, the family still ends 90 days after the
		// sign-in (which was a minute before the code was issued).
		step := DefaultRefreshTokenTTL / 2
		for range int(DefaultRefreshTokenMaxTTL/step) - 1 {
			ts.Clock.Add(step)
			rt = decode(t, ts.refresh(c, secret, rt, nil), http.StatusOK)["refresh_token"].(string)
		}
		ts.Clock.Add(step)
		wantError(t, ts.refresh(c, secret, rt, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("disabled user", func(t *testing.T) {
		dave := ts.mustUser("dave")
		rt := ts.signIn(t, c, secret, dave)["refresh_token"].(string)
		if _, err := ts.Accounts.Disable(context.Background(), "test", dave.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, ts.refresh(c, secret, rt, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
	t.Run("malformed and unknown tokens", func(t *testing.T) {
		wantError(t, ts.refresh(c, secret, "gate_rt_nope", nil), http.StatusBadRequest, CodeInvalidGrant)
		unknown, _, _ := ts.hasher.New(PrefixRefreshToken)
		wantError(t, ts.refresh(c, secret, unknown, nil), http.StatusBadRequest, CodeInvalidGrant)
		code, _, _ := ts.hasher.New(PrefixAuthCode) // a secret of another kind
		wantError(t, ts.refresh(c, secret, code, nil), http.StatusBadRequest, CodeInvalidGrant)
	})
}
