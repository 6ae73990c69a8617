package oauth

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

func TestAccessTokenHash(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
	s256 := sha256.Sum256([]byte(tok))
	s512 := sha512.Sum512([]byte(tok))
	for alg, want := range map[string]string{
		"ES256": base64.RawURLEncoding.EncodeToString(s256[:16]),
		"RS256": base64.RawURLEncoding.EncodeToString(s256[:16]),
		"EdDSA": base64.RawURLEncoding.EncodeToString(s512[:32]), // OIDC Core errata: SHA-512 for Ed25519
	} {
		if got, err := accessTokenHash(alg, tok); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", alg, got, err, want)
		}
	}
	if _, err := accessTokenHash("HS256", tok); err == nil {
		t.Error("at_hash for HS256")
	}
}

// jwtParts decodes the header and payload of a JWT without verifying it.
func jwtParts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

func TestIssuedTokenShapes(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")

	t.Run("access token is an RFC 9068 JWT", func(t *testing.T) {
		m := ts.signIn(t, c, secret, u)
		h, p := jwtParts(t, m["access_token"].(string))
		if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == nil {
			t.Errorf("header %v", h)
		}
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time"} {
			if p[k] == nil {
				t.Errorf("claim %s missing: %v", k, p)
			}
		}
		if _, isArray := p["aud"].([]any); !isArray {
			t.Errorf("two audiences not an array: %v", p["aud"])
		}
		ih, ip := jwtParts(t, m["id_token"].(string))
		if ih["typ"] != "JWT" || ip["aud"] != c.ID || ip["azp"] != c.ID || ip["iss"] != ts.URL || ip["sub"] != u.ID ||
			ip["auth_time"] == nil || ip["at_hash"] == nil {
			t.Errorf("ID token %v %v", ih, ip)
		}
	})
	t.Run("one audience is a string and the client's TTL applies", func(t *testing.T) {
		svc, svcSecret := ts.mustClient(client.Input{Name: "svc", Audiences: []string{"https://api.example.com"}, AccessTokenTTL: 2 * time.Minute})
		m := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, svc.ID, svcSecret), http.StatusOK)
		_, p := jwtParts(t, m["access_token"].(string))
		if p["aud"] != "https://api.example.com" || p["auth_time"] != nil || p["sub"] != svc.ID {
			t.Errorf("claims %v", p)
		}
		if m["expires_in"] != float64(120) || p["exp"].(float64)-p["iat"].(float64) != 120 {
			t.Errorf("expires_in %v, exp-iat %v", m["expires_in"], p["exp"].(float64)-p["iat"].(float64))
		}
		if m["scope"] != nil {
			t.Errorf("scope %v for a request without scopes", m["scope"])
		}
	})
	t.Run("client without audiences gets the issuer", func(t *testing.T) {
		svc, svcSecret := ts.mustClient(client.Input{Name: "svc"})
		m := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, svc.ID, svcSecret), http.StatusOK)
		if _, p := jwtParts(t, m["access_token"].(string)); p["aud"] != ts.URL {
			t.Errorf("aud %v", p["aud"])
		}
	})
	t.Run("jtis are unique", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			m := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret), http.StatusOK)
			_, p := jwtParts(t, m["access_token"].(string))
			jti := p["jti"].(string)
			if seen[jti] || len(jti) != 22 {
				t.Fatalf("jti %q repeated or not 128 bits", jti)
			}
			seen[jti] = true
		}
	})
}
