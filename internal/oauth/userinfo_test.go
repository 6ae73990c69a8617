package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestUserinfo(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	get := func(header string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+PathUserinfo, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	full := ts.signIn(t, c, secret, u, "email", "openid", "profile")["access_token"].(string)

	t.Run("scopes select claims", func(t *testing.T) {
		m := decode(t, get("Bearer "+full), http.StatusOK)
		if m["sub"] != u.ID || m["email"] != "alice@example.com" || m["email_verified"] != true || m["name"] != "Test alice" || m["preferred_username"] != "alice" {
			t.Errorf("got %v", m)
		}
		only := ts.signIn(t, c, secret, u, "openid")["access_token"].(string)
		if m := decode(t, get("Bearer "+only), http.StatusOK); len(m) != 1 || m["sub"] != u.ID {
			t.Errorf("openid alone gave %v", m)
		}
	})
	t.Run("POST with the token in the body", func(t *testing.T) {
		if m := decode(t, ts.post(PathUserinfo, url.Values{"access_token": {full}}), http.StatusOK); m["sub"] != u.ID {
			t.Errorf("got %v", m)
		}
	})
	challenge := func(t *testing.T, resp *http.Response, status int, code string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d", resp.StatusCode, status)
		}
		h := resp.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(h, `Bearer realm="`+ts.URL+`"`) {
			t.Errorf("WWW-Authenticate %q", h)
		}
		if code == "" && strings.Contains(h, "error=") || code != "" && !strings.Contains(h, `error="`+code+`"`) {
			t.Errorf("WWW-Authenticate %q, want error %q", h, code)
		}
	}
	t.Run("missing token", func(t *testing.T) { challenge(t, get(""), http.StatusUnauthorized, "") })
	t.Run("garbage token", func(t *testing.T) { challenge(t, get("Bearer nope"), http.StatusUnauthorized, CodeInvalidToken) })
	// The Authorization header is read as every Gatehouse resource server
	// reads it (verify.AccessToken): one header, one token68.
	t.Run("another scheme", func(t *testing.T) { challenge(t, get("Basic "+full), http.StatusUnauthorized, "") })
	for _, bad := range []string{"Bearer " + full + " x", "Bearer", "DPoP a b", "Bearer ????"} {
		t.Run("not a token: "+bad[:min(len(bad), 10)], func(t *testing.T) {
			challenge(t, get(bad), http.StatusBadRequest, CodeInvalidRequest)
		})
	}
	t.Run("several Authorization headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+PathUserinfo, nil)
		req.Header.Add("Authorization", "Bearer "+full)
		req.Header.Add("Authorization", "Basic eDp5")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		challenge(t, resp, http.StatusBadRequest, CodeInvalidRequest)
	})
	t.Run("ID token is not an access token", func(t *testing.T) {
		id := ts.signIn(t, c, secret, u, "openid")["id_token"].(string)
		challenge(t, get("Bearer "+id), http.StatusUnauthorized, CodeInvalidToken)
	})
	t.Run("no openid scope", func(t *testing.T) {
		at := ts.signIn(t, c, secret, u, "read")["access_token"].(string)
		challenge(t, get("Bearer "+at), http.StatusForbidden, CodeInsufficientScope)
	})
	t.Run("revoked token", func(t *testing.T) {
		at := ts.signIn(t, c, secret, u, "openid")["access_token"].(string)
		ts.post(PathRevoke, url.Values{"token": {at}}, c.ID, secret)
		challenge(t, get("Bearer "+at), http.StatusUnauthorized, CodeInvalidToken)
	})
	t.Run("token in the URL is refused", func(t *testing.T) {
		resp, err := http.Get(ts.URL + PathUserinfo + "?access_token=" + full)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("POST with the token in the header and a body of another type", func(t *testing.T) {
		// RFC 6750 2.2 reads the body only when it is a form; a POST whose
		// body is something else authenticates with its header alone.
		req, _ := http.NewRequest(http.MethodPost, ts.URL+PathUserinfo, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+full)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if m := decode(t, resp, http.StatusOK); m["sub"] != u.ID {
			t.Errorf("got %v", m)
		}
	})
	t.Run("header and body at once", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+PathUserinfo, strings.NewReader(url.Values{"access_token": {full}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+full)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		bob := ts.mustUser("bob")
		at := ts.signIn(t, c, secret, bob, "openid")["access_token"].(string)
		ts.Accounts.Disable(context.Background(), "test", bob.ID)
		challenge(t, get("Bearer "+at), http.StatusUnauthorized, CodeInvalidToken)
	})
	t.Run("expired token", func(t *testing.T) {
		ts.Clock.Add(DefaultAccessTokenTTL + ts.cfg.AccessTokenTTL)
		challenge(t, get("Bearer "+full), http.StatusUnauthorized, CodeInvalidToken)
	})
}
