package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// jarClient is a private_key_jwt client with an authorization code grant
// and its keys: an ES256 key (k1) and an RSA key without alg (k2), which
// signs RS256 and PS256 alike.
type jarClient struct {
	*auth.Client
	ec, rsa crypto.Signer
}

var testRSAKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func (ts *testServer) jarClient(t *testing.T) *jarClient {
	t.Helper()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &ec.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "ES256"},
		{Key: &testRSAKey.PublicKey, KeyID: "k2", Use: "sig"},
	}})
	c, _ := ts.mustClient(client.Input{
		AuthMethod: auth.AuthMethodPrivateKeyJWT, JWKS: set,
		RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes:   []string{auth.GrantAuthorizationCode},
		Scopes:       []string{"openid", "profile", "read", "write"},
	})
	return &jarClient{Client: c, ec: ec, rsa: testRSAKey}
}

// object returns the claims of a valid request object for the client.
func (jc *jarClient) object(ts *testServer, challenge string) map[string]any {
	now := ts.Clock.Now()
	return map[string]any{
		"iss": jc.ID, "aud": ts.URL, "exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix(),
		"client_id": jc.ID, "response_type": "code", "redirect_uri": jc.RedirectURIs[0],
		"scope": "openid read", "state": "object-state", "nonce": "n-1",
		"code_challenge": challenge, "code_challenge_method": "S256", "max_age": 3600,
	}
}

func (jc *jarClient) sign(t *testing.T, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	key := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: jc.ec, KeyID: "k1"}}
	if alg != jose.ES256 {
		key.Key = jose.JSONWebKey{Key: jc.rsa, KeyID: "k2"}
	}
	return signJWS(t, key, "oauth-authz-req+jwt", claims)
}

// assertionFor returns a private_key_jwt client assertion of the client.
func (jc *jarClient) assertionFor(t *testing.T, ts *testServer, jti string) url.Values {
	t.Helper()
	now := ts.Clock.Now()
	a := assertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: jc.ec, KeyID: "k1"}},
		map[string]any{"iss": jc.ID, "sub": jc.ID, "aud": ts.URL, "jti": jti, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	return url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {a}}
}

// TestRequestObjectAtAuthorize: a signed request object (RFC 9101) stands
// for the request; the parameters outside it are ignored (RFC 9101 6.3).
func TestRequestObjectAtAuthorize(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	jc := ts.jarClient(t)
	ts.mustUser("alice")
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			obj := jc.sign(t, alg, jc.object(ts, oauth2.S256ChallengeFromVerifier(verifier)))
			q := url.Values{"client_id": {jc.ID}, "request": {obj}, "scope": {"write"}, "state": {"query-state"}, "response_type": {"code"}}
			b := newBrowser(t, ts)
			code := b.codeFrom(b.signInAndAllow(ts.authorizeURL(q)), jc.RedirectURIs[0], "object-state")
			// The code is bound to the object's challenge and scopes.
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {jc.RedirectURIs[0]}, "code_verifier": {verifier}}
			for k, v := range jc.assertionFor(t, ts, "jti-"+string(alg)) {
				form[k] = v
			}
			m := decode(t, ts.post(PathToken, form), http.StatusOK)
			if m["scope"] != "openid read" {
				t.Fatalf("scope %v, want the object's", m["scope"])
			}
		})
	}
}

// TestRequestObjectAtPAR: a request object pushed by a client
// authenticated with private_key_jwt (FAPI 2.0's way).
func TestRequestObjectAtPAR(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	jc := ts.jarClient(t)
	ts.mustUser("alice")
	verifier := oauth2.GenerateVerifier()
	form := jc.assertionFor(t, ts, "par-1")
	form.Set("request", jc.sign(t, jose.ES256, jc.object(ts, oauth2.S256ChallengeFromVerifier(verifier))))
	m := decode(t, ts.push(form), http.StatusCreated)
	b := newBrowser(t, ts)
	b.codeFrom(b.signInAndAllow(ts.authorizeURL(url.Values{"client_id": {jc.ID}, "request_uri": {m["request_uri"].(string)}})), jc.RedirectURIs[0], "object-state")
}

func TestRequestObjectAttacks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	jc := ts.jarClient(t)
	other := ts.jarClient(t)
	challenge := s256(newVerifier())
	cases := map[string]func() string{
		"signed by another client's key": func() string {
			return other.sign(t, jose.ES256, jc.object(ts, challenge))
		},
		"wrong aud": func() string {
			o := jc.object(ts, challenge)
			o["aud"] = "https://other-issuer.example"
			return jc.sign(t, jose.ES256, o)
		},
		"aud is the authorization endpoint": func() string {
			o := jc.object(ts, challenge)
			o["aud"] = ts.URL + PathAuthorize
			return jc.sign(t, jose.ES256, o)
		},
		"expired": func() string {
			o := jc.object(ts, challenge)
			o["exp"] = ts.Clock.Now().Add(-time.Minute).Unix()
			return jc.sign(t, jose.ES256, o)
		},
		"no exp": func() string {
			o := jc.object(ts, challenge)
			delete(o, "exp")
			return jc.sign(t, jose.ES256, o)
		},
		"exp too far ahead": func() string {
			o := jc.object(ts, challenge)
			o["exp"] = ts.Clock.Now().Add(24 * time.Hour).Unix()
			return jc.sign(t, jose.ES256, o)
		},
		"not yet valid": func() string {
			o := jc.object(ts, challenge)
			o["nbf"] = ts.Clock.Now().Add(time.Hour).Unix()
			return jc.sign(t, jose.ES256, o)
		},
		"iss another client": func() string {
			o := jc.object(ts, challenge)
			o["iss"] = other.ID
			return jc.sign(t, jose.ES256, o)
		},
		"client_id claim of another client": func() string {
			o := jc.object(ts, challenge)
			o["client_id"] = other.ID
			return jc.sign(t, jose.ES256, o)
		},
		"a request_uri inside": func() string {
			o := jc.object(ts, challenge)
			o["request_uri"] = PrefixRequestURI + "x"
			return jc.sign(t, jose.ES256, o)
		},
		"alg none": func() string {
			return unsigned(map[string]any{"alg": "none"}, jc.object(ts, challenge), "")
		},
		"alg HS256 with the public key as secret": func() string {
			return unsigned(map[string]any{"alg": "HS256", "kid": "k1"}, jc.object(ts, challenge), "c2ln")
		},
		"a signature that does not verify": func() string {
			// A character inside the signature: the last one may carry
			// only padding bits, which a lenient decoder ignores.
			obj := []byte(jc.sign(t, jose.ES256, jc.object(ts, challenge)))
			i := len(obj) - 10
			obj[i] = map[bool]byte{true: 'A', false: 'B'}[obj[i] != 'A']
			return string(obj)
		},
		"unsigned JSON": func() string { return `{"iss":"` + jc.ID + `"}` },
		"wrong typ": func() string {
			return signJWS(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: jc.ec, KeyID: "k1"}}, "dpop+jwt", jc.object(ts, challenge))
		},
		"a redirect URI not registered": func() string {
			o := jc.object(ts, challenge)
			o["redirect_uri"] = "https://evil.example/cb"
			return jc.sign(t, jose.ES256, o)
		},
	}
	for name, obj := range cases {
		t.Run(name, func(t *testing.T) {
			raw := obj()
			q := url.Values{"client_id": {jc.ID}, "request": {raw}}
			wantErrorPage(t, newBrowser(t, ts).get(ts.authorizeURL(q)), http.StatusBadRequest)
			form := jc.assertionFor(t, ts, "attack-"+name)
			form.Set("request", raw)
			resp := ts.push(form)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("PAR: status %d, want 400", resp.StatusCode)
			}
		})
	}
	t.Run("a client without keys cannot use request objects", func(t *testing.T) {
		c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
		obj := jc.sign(t, jose.ES256, jc.object(ts, challenge))
		wantError(t, ts.push(url.Values{"request": {obj}}, c.ID, secret), http.StatusBadRequest, CodeInvalidRequestObject)
	})
}

// FuzzRequestObject feeds request objects, signed and not, to the parser:
// it never panics, and whatever it accepts holds only authorization
// parameters and the client's ID.
func FuzzRequestObject(f *testing.F) {
	now := time.Unix(1_900_000_000, 0)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ec.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	c := &auth.Client{ID: "cli_fuzz", JWKS: set}
	s := &Server{issuer: "https://issuer.example", now: func() time.Time { return now }}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ec, KeyID: "k1"}}, nil)
	sign := func(claims string) string {
		jws, _ := signer.Sign([]byte(claims))
		out, _ := jws.CompactSerialize()
		return out
	}
	base := `"iss":"cli_fuzz","aud":"https://issuer.example","exp":1900000060`
	f.Add(sign(`{` + base + `,"scope":"openid","max_age":60,"resource":["https://a","https://b"],"claims":{"id_token":{}}}`))
	f.Add(sign(`{` + base + `,"max_age":1e400,"state":null,"nonce":true}`))
	f.Add(sign(`{` + base + `,"aud":["x","https://issuer.example"],"exp":1.5e9}`))
	f.Add(sign(`[1,2]`))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := s.requestObjectParams(c, raw)
		if err != nil {
			if e := asError(err); e.Code != CodeInvalidRequestObject || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v, want invalid_request_object", err)
			}
			return
		}
		if q.Get("client_id") != c.ID || len(q["client_id"]) != 1 {
			t.Fatalf("client_id %q", q["client_id"])
		}
		for name := range q {
			known := false
			for _, p := range authorizeParams {
				known = known || p == name
			}
			if !known || name == "request" || name == "request_uri" {
				t.Fatalf("parameter %q came out of a request object", name)
			}
		}
	})
}
