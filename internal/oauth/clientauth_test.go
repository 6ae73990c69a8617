package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

func TestClientAuthenticationFailuresLookAlike(t *testing.T) {
	ts := newTestServer(t)
	basic, basicSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	post, postSecret := ts.confidentialClient(auth.AuthMethodSecretPost)
	unknownSecret, _, _ := ts.hasher.New(PrefixClientSecret)
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	raw := func(header string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		name       string
		resp       func() *http.Response
		status     int
		code       string
		challenged bool
	}{
		{"wrong secret", func() *http.Response { return ts.post(PathToken, cc, basic.ID, unknownSecret) }, 401, CodeInvalidClient, true},
		{"malformed secret", func() *http.Response { return ts.post(PathToken, cc, basic.ID, mistypeLast(basicSecret)) }, 401, CodeInvalidClient, true},
		{"secret of another kind", func() *http.Response {
			rt, _, _ := ts.hasher.New(PrefixRefreshToken)
			return ts.post(PathToken, cc, basic.ID, rt)
		}, 401, CodeInvalidClient, true},
		{"unknown client", func() *http.Response { return ts.post(PathToken, cc, "cli_nosuchclient000", basicSecret) }, 401, CodeInvalidClient, true},
		{"wrong method: post client using basic", func() *http.Response { return ts.post(PathToken, cc, post.ID, postSecret) }, 401, CodeInvalidClient, true},
		{"wrong method: basic client using post", func() *http.Response {
			return ts.post(PathToken, with(url.Values{"client_id": {basic.ID}, "client_secret": {basicSecret}}))
		}, 401, CodeInvalidClient, true},
		{"confidential client without credentials", func() *http.Response {
			return ts.post(PathToken, with(url.Values{"client_id": {basic.ID}}))
		}, 401, CodeInvalidClient, true},
		{"no client at all", func() *http.Response { return ts.post(PathToken, cc) }, 401, CodeInvalidClient, true},
		{"two methods at once", func() *http.Response {
			return ts.post(PathToken, with(url.Values{"client_secret": {postSecret}, "client_id": {post.ID}}), basic.ID, basicSecret)
		}, 400, CodeInvalidRequest, false},
		{"basic and an assertion", func() *http.Response {
			return ts.post(PathToken, with(url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {"x.y.z"}}), basic.ID, basicSecret)
		}, 400, CodeInvalidRequest, false},
		{"basic and another client_id in the body", func() *http.Response {
			return ts.post(PathToken, with(url.Values{"client_id": {post.ID}}), basic.ID, basicSecret)
		}, 401, CodeInvalidClient, true},
		{"undecodable basic header", func() *http.Response { return raw("Basic !!!", cc) }, 401, CodeInvalidClient, true},
		{"basic without a colon", func() *http.Response {
			return raw("Basic "+base64.StdEncoding.EncodeToString([]byte(basic.ID+basicSecret)), cc)
		}, 401, CodeInvalidClient, true},
		{"basic with bad percent-encoding", func() *http.Response {
			return raw("Basic "+base64.StdEncoding.EncodeToString([]byte(basic.ID+":%zz")), cc)
		}, 401, CodeInvalidClient, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.resp()
			m := wantError(t, resp, tc.status, tc.code)
			if tc.code == CodeInvalidClient && m["error_description"] != "Client authentication failed." {
				t.Errorf("description %v reveals more than failure", m["error_description"])
			}
			// Every 401 carries a challenge (RFC 9110 15.5.2), whatever
			// method the client tried.
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != tc.challenged || (tc.challenged && !strings.HasPrefix(got, "Basic realm=")) {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}

	t.Run("basic credentials are form-urlencoded before base64", func(t *testing.T) {
		// Our IDs and secrets have no characters that need encoding, so
		// encode harmless ones on purpose: %63 is "c".
		id := "%63" + basic.ID[1:]
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+basicSecret))
		decode(t, raw(header, cc), http.StatusOK)
	})
}

// jwtClient is a private_key_jwt client and its key.
type jwtClient struct {
	*auth.Client
	key jose.SigningKey
	kid string
}

func (ts *testServer) jwtClient(t *testing.T) *jwtClient {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "ES256"}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	c, secret := ts.mustClient(client.Input{AuthMethod: auth.AuthMethodPrivateKeyJWT, JWKS: set, Scopes: []string{"read"},
		GrantTypes: []string{auth.GrantClientCredentials}})
	if secret != "" {
		t.Fatal("a private_key_jwt client got a secret")
	}
	return &jwtClient{Client: c, key: jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, kid: "k1"}
}

// assertion signs claims with the client's key (or key, when set).
func assertion(t *testing.T, key jose.SigningKey, claims map[string]any) string {
	t.Helper()
	return signJWS(t, key, "JWT", claims)
}

func (jc *jwtClient) claims(ts *testServer, jti string) map[string]any {
	now := ts.Clock.Now()
	return map[string]any{"iss": jc.ID, "sub": jc.ID, "aud": ts.URL, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix()}
}

func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {a}}
}

// unsigned builds a token with the given header and claims and an
// arbitrary signature part, for algorithm attacks.
func unsigned(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func TestPrivateKeyJWT(t *testing.T) {
	ts := newTestServer(t)
	jc := ts.jwtClient(t)
	other := ts.jwtClient(t)

	t.Run("valid assertion", func(t *testing.T) {
		decode(t, ts.post(PathToken, assertionForm(assertion(t, jc.key, jc.claims(ts, "a-1")))), http.StatusOK)
	})
	t.Run("the issuer as a one-element array is accepted", func(t *testing.T) {
		cl := jc.claims(ts, "a-2")
		cl["aud"] = []string{ts.URL}
		decode(t, ts.post(PathToken, assertionForm(assertion(t, jc.key, cl))), http.StatusOK)
	})
	t.Run("replayed jti", func(t *testing.T) {
		a := assertion(t, jc.key, jc.claims(ts, "a-3"))
		decode(t, ts.post(PathToken, assertionForm(a)), http.StatusOK)
		wantError(t, ts.post(PathToken, assertionForm(a)), http.StatusUnauthorized, CodeInvalidClient)
		// Another client may use the same jti: they are kept per client.
		decode(t, ts.post(PathToken, assertionForm(assertion(t, other.key, other.claims(ts, "a-3")))), http.StatusOK)
	})
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	unregistered, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		a    func() string
	}{
		{"expired", func() string {
			cl := jc.claims(ts, "b-1")
			cl["exp"] = ts.Clock.Now().Add(-time.Minute).Unix()
			return assertion(t, jc.key, cl)
		}},
		{"no exp", func() string {
			cl := jc.claims(ts, "b-2")
			delete(cl, "exp")
			return assertion(t, jc.key, cl)
		}},
		{"exp too far ahead", func() string {
			cl := jc.claims(ts, "b-3")
			cl["exp"] = ts.Clock.Now().Add(time.Hour).Unix()
			return assertion(t, jc.key, cl)
		}},
		{"no jti", func() string {
			cl := jc.claims(ts, "")
			delete(cl, "jti")
			return assertion(t, jc.key, cl)
		}},
		{"wrong audience", func() string {
			cl := jc.claims(ts, "b-4")
			cl["aud"] = "https://elsewhere.example.com/token"
			return assertion(t, jc.key, cl)
		}},
		{"the token endpoint as audience (audience injection)", func() string {
			cl := jc.claims(ts, "b-4a")
			cl["aud"] = ts.URL + PathToken
			return assertion(t, jc.key, cl)
		}},
		{"the issuer beside another audience", func() string {
			cl := jc.claims(ts, "b-4b")
			cl["aud"] = []string{ts.URL, "https://elsewhere.example.com"}
			return assertion(t, jc.key, cl)
		}},
		{"sub is not the client", func() string {
			cl := jc.claims(ts, "b-5")
			cl["sub"] = other.ID
			return assertion(t, jc.key, cl)
		}},
		{"signed by another client's key", func() string { return assertion(t, other.key, jc.claims(ts, "b-6")) }},
		{"unregistered key with the registered kid", func() string {
			return assertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: unregistered, KeyID: "k1"}}, jc.claims(ts, "b-7"))
		}},
		{"EdDSA key not in the JWKS", func() string {
			return assertion(t, jose.SigningKey{Algorithm: jose.EdDSA, Key: ed}, jc.claims(ts, "b-8"))
		}},
		{"alg none", func() string {
			return unsigned(map[string]any{"alg": "none", "kid": "k1"}, jc.claims(ts, "b-9"), "")
		}},
		{"HS256 keyed with the public key", func() string {
			pub, _ := json.Marshal(jose.JSONWebKey{Key: jc.key.Key.(jose.JSONWebKey).Key.(*ecdsa.PrivateKey).Public()})
			tok := unsigned(map[string]any{"alg": "HS256", "kid": "k1"}, jc.claims(ts, "b-10"), "")
			mac := hmac.New(sha256.New, pub)
			mac.Write([]byte(tok[:len(tok)-1]))
			return tok + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}},
		{"garbage", func() string { return "not.a.jwt" }},
		// A jti the store cannot keep must not become a server error.
		{"jti with a NUL character", func() string { return assertion(t, jc.key, jc.claims(ts, "b-11\x00")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, ts.post(PathToken, assertionForm(tc.a())), http.StatusUnauthorized, CodeInvalidClient)
		})
	}
	t.Run("wrong assertion type", func(t *testing.T) {
		f := assertionForm(assertion(t, jc.key, jc.claims(ts, "c-1")))
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		wantError(t, ts.post(PathToken, f), http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("client_id in the body must match", func(t *testing.T) {
		f := assertionForm(assertion(t, jc.key, jc.claims(ts, "c-2")))
		f.Set("client_id", other.ID)
		wantError(t, ts.post(PathToken, f), http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("a secret client cannot use an assertion", func(t *testing.T) {
		c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
		cl := jc.claims(ts, "c-3")
		cl["iss"], cl["sub"] = c.ID, c.ID
		wantError(t, ts.post(PathToken, assertionForm(assertion(t, jc.key, cl))), http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("a public client cannot use a secret", func(t *testing.T) {
		pc, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}})
		secret, _, _ := ts.hasher.New(PrefixClientSecret)
		wantError(t, ts.post(PathToken, url.Values{"grant_type": {"authorization_code"}}, pc.ID, secret), http.StatusUnauthorized, CodeInvalidClient)
	})
}

// mistypeLast changes a secret's last character, always to another one
// (setting it to a fixed character leaves it unchanged when it already ends
// so).
func mistypeLast(s string) string {
	c := byte('0')
	if s[len(s)-1] == c {
		c = '1'
	}
	return s[:len(s)-1] + string(c)
}
