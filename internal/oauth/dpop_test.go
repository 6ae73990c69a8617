package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// dpopClient is a go-jose DPoP client on the test server's clock.
func (ts *testServer) dpopClient(alg jose.SignatureAlgorithm) *dpoptest.Client {
	c := dpoptest.MustNew(alg)
	c.Now = ts.Clock.Now
	return c
}

// postDPoP posts a form to the token endpoint with the given DPoP proofs
// (none for no header).
func (ts *testServer) postDPoP(path string, form url.Values, proofs []string, basic ...string) *http.Response {
	ts.t.Helper()
	var h http.Header
	if proofs != nil {
		h = http.Header{"Dpop": proofs}
	}
	return ts.postWith(path, form, h, basic...)
}

func (ts *testServer) tokenProof(c *dpoptest.Client, o dpoptest.Options) []string {
	return []string{c.Proof("POST", ts.URL+PathToken, o)}
}

func TestDPoPClientCredentialsWithRealClient(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			dc := ts.dpopClient(alg)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: &dpoptest.Transport{Client: dc}})
			cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: ts.URL + PathToken, Scopes: []string{"read"}}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "DPoP" {
				t.Errorf("token_type %q, want DPoP", tok.TokenType)
			}
			claims, err := ts.verifyAccess(tok.AccessToken, "")
			if err != nil {
				t.Fatal(err)
			}
			if claims.JKT != dc.JKT() {
				t.Fatalf("cnf.jkt %q, want %q", claims.JKT, dc.JKT())
			}
			// Introspection shows the binding (RFC 9449 6.2).
			m := decode(t, ts.post(PathIntrospect, url.Values{"token": {tok.AccessToken}}, c.ID, secret), http.StatusOK)
			cnf, _ := m["cnf"].(map[string]any)
			if m["active"] != true || m["token_type"] != "DPoP" || cnf["jkt"] != dc.JKT() {
				t.Errorf("introspection %v", m)
			}
		})
	}
	// Without a proof the token is a bearer token, as before.
	plain := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: ts.URL + PathToken}
	tok, err := plain.Token(context.Background())
	if err != nil || tok.TokenType != "Bearer" {
		t.Fatalf("%v %v", tok, err)
	}
	m := decode(t, ts.post(PathIntrospect, url.Values{"token": {tok.AccessToken}}, c.ID, secret), http.StatusOK)
	if _, ok := m["cnf"]; ok || m["token_type"] != "Bearer" {
		t.Errorf("bearer introspection %v", m)
	}
}

func TestDPoPTokenEndpointAttacks(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	dc := ts.dpopClient(jose.ES256)
	form := url.Values{"grant_type": {"client_credentials"}}
	replayed := ts.tokenProof(dc, dpoptest.Options{})
	decode(t, ts.postDPoP(PathToken, form, replayed, c.ID, secret), http.StatusOK)
	now := ts.Clock.Now()
	for _, tc := range []struct {
		name   string
		proofs []string
		code   string
	}{
		{"replayed proof", replayed, CodeInvalidDPoPProof},
		{"proof for another URL", []string{dc.Proof("POST", ts.URL+PathIntrospect, dpoptest.Options{})}, CodeInvalidDPoPProof},
		{"proof for another host", []string{dc.Proof("POST", "https://evil.example"+PathToken, dpoptest.Options{})}, CodeInvalidDPoPProof},
		{"proof for another method", []string{dc.Proof("GET", ts.URL+PathToken, dpoptest.Options{})}, CodeInvalidDPoPProof},
		{"expired iat", ts.tokenProof(dc, dpoptest.Options{IssuedAt: now.Add(-2 * time.Minute)}), CodeInvalidDPoPProof},
		{"iat in the future", ts.tokenProof(dc, dpoptest.Options{IssuedAt: now.Add(2 * time.Minute)}), CodeInvalidDPoPProof},
		{"ath at the token endpoint", ts.tokenProof(dc, dpoptest.Options{AccessToken: "x"}), CodeInvalidDPoPProof},
		{"typ JWT", ts.tokenProof(dc, dpoptest.Options{Typ: "JWT"}), CodeInvalidDPoPProof},
		{"private key in the header", ts.tokenProof(dc, dpoptest.Options{JWK: dc.Key}), CodeInvalidDPoPProof},
		{"two proofs", []string{ts.tokenProof(dc, dpoptest.Options{})[0], ts.tokenProof(dc, dpoptest.Options{})[0]}, CodeInvalidDPoPProof},
		{"empty proof", []string{""}, CodeInvalidDPoPProof},
		{"garbage", []string{"not.a.jwt"}, CodeInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := wantError(t, ts.postDPoP(PathToken, form, tc.proofs, c.ID, secret), http.StatusBadRequest, tc.code)
			if d, _ := m["error_description"].(string); strings.Contains(d, "eyJ") {
				t.Errorf("the description echoes the proof: %q", d)
			}
		})
	}
	// A proof from a client that failed authentication is never checked:
	// the jti of a valid proof is not burnt by someone without the secret.
	proof := ts.tokenProof(dc, dpoptest.Options{})
	wantError(t, ts.postDPoP(PathToken, form, proof, c.ID, "wrong"), http.StatusUnauthorized, CodeInvalidClient)
	decode(t, ts.postDPoP(PathToken, form, proof, c.ID, secret), http.StatusOK)
}

func TestDPoPRequired(t *testing.T) {
	t.Run("by the client", func(t *testing.T) {
		ts := newTestServer(t)
		c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
		other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
		c.RequireDPoP = true
		if err := ts.Store.UpdateClient(t.Context(), c, c.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}}
		wantError(t, ts.postDPoP(PathToken, form, nil, c.ID, secret), http.StatusBadRequest, CodeInvalidDPoPProof)
		m := decode(t, ts.postDPoP(PathToken, form, ts.tokenProof(ts.dpopClient(jose.EdDSA), dpoptest.Options{}), c.ID, secret), http.StatusOK)
		if m["token_type"] != "DPoP" {
			t.Errorf("%v", m)
		}
		decode(t, ts.postDPoP(PathToken, form, nil, other.ID, otherSecret), http.StatusOK)
	})
	t.Run("by the server", func(t *testing.T) {
		ts := newTestServer(t, func(c *Config) { c.DPoP.Required = true })
		c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
		wantError(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"client_credentials"}}, nil, c.ID, secret), http.StatusBadRequest, CodeInvalidDPoPProof)
	})
}

func TestDPoPServerNonce(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.DPoP.Nonce = true; c.DPoP.NoncePeriod = time.Minute })
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	dc := ts.dpopClient(jose.ES256)
	form := url.Values{"grant_type": {"client_credentials"}}
	// A proof without a nonce: use_dpop_nonce, with the nonce to use.
	resp := ts.postDPoP(PathToken, form, ts.tokenProof(dc, dpoptest.Options{}), c.ID, secret)
	wantError(t, resp, http.StatusBadRequest, CodeUseDPoPNonce)
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce with use_dpop_nonce")
	}
	wantError(t, ts.postDPoP(PathToken, form, ts.tokenProof(dc, dpoptest.Options{Nonce: "forged"}), c.ID, secret), http.StatusBadRequest, CodeUseDPoPNonce)
	decode(t, ts.postDPoP(PathToken, form, ts.tokenProof(dc, dpoptest.Options{Nonce: nonce}), c.ID, secret), http.StatusOK)
	// Two periods later the nonce is stale.
	ts.Clock.Add(2 * time.Minute)
	wantError(t, ts.postDPoP(PathToken, form, ts.tokenProof(dc, dpoptest.Options{Nonce: nonce}), c.ID, secret), http.StatusBadRequest, CodeUseDPoPNonce)
	// A real client retries with the nonce it is given.
	tr := &dpoptest.Transport{Client: dc}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})
	cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: ts.URL + PathToken}
	tok, err := cfg.Token(ctx)
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("%v %v", tok, err)
	}
}

// dpopCode stores a code bound (or not) to a DPoP key, as the authorize
// endpoint does for dpop_jkt.
func (ts *testServer) dpopCode(c *auth.Client, u *auth.User, jkt string, scopes ...string) (code, verifier string) {
	code, verifier, _ = ts.issueCode(c, u, codeOpts{scopes: scopes, audiences: []string{ts.URL}})
	if jkt == "" {
		return code, verifier
	}
	// Re-store the same code with its binding: codes are immutable, so
	// replace it under a new hash.
	code2, hash, err := ts.hasher.New(PrefixAuthCode)
	if err != nil {
		ts.t.Fatal(err)
	}
	now := ts.Clock.Now()
	fam, _ := newFamilyID()
	if err := ts.Store.CreateAuthCode(context.Background(), &auth.AuthCode{
		Hash: hash, ClientID: c.ID, UserID: u.ID, RedirectURI: c.RedirectURIs[0], Scopes: scopes,
		Audiences: []string{ts.URL}, CodeChallenge: s256(verifier), AuthTime: now.Add(-time.Minute),
		FamilyID: fam, DPoPJKT: jkt, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
	}); err != nil {
		ts.t.Fatal(err)
	}
	return code2, verifier
}

func TestDPoPAuthorizationCodeBinding(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "offline_access"}})
	u := ts.mustUser("dora")
	dc, other := ts.dpopClient(jose.ES256), ts.dpopClient(jose.ES256)
	exchange := func(code, verifier string, proofs []string) *http.Response {
		return ts.postDPoP(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {c.RedirectURIs[0]}, "client_id": {c.ID}}, proofs)
	}
	code, v := ts.dpopCode(c, u, dc.JKT(), "openid")
	wantError(t, exchange(code, v, nil), http.StatusBadRequest, CodeInvalidDPoPProof)
	code, v = ts.dpopCode(c, u, dc.JKT(), "openid")
	wantError(t, exchange(code, v, ts.tokenProof(other, dpoptest.Options{})), http.StatusBadRequest, CodeInvalidGrant)
	code, v = ts.dpopCode(c, u, dc.JKT(), "openid")
	m := decode(t, exchange(code, v, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
	if m["token_type"] != "DPoP" {
		t.Fatalf("%v", m)
	}
}

func TestAuthorizeStoresDPoPJKT(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	dc := ts.dpopClient(jose.ES256)
	b := newBrowser(t, ts)
	consent := b.login(ts.authorizeURL(authParams(c, "dpop_jkt", dc.JKT())), "alice", testPassword)
	code := b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st-123")
	hash, _ := ts.parseSecret(PrefixAuthCode, code)
	ac, err := ts.Store.ConsumeAuthCode(t.Context(), hash, ts.Clock.Now())
	if err != nil || ac.DPoPJKT != dc.JKT() {
		t.Fatalf("code %+v %v", ac, err)
	}
	p := b.get(ts.authorizeURL(authParams(c, "dpop_jkt", "not-a-thumbprint")))
	wantRedirectError(t, p, c.RedirectURIs[0], "st-123", CodeInvalidRequest)
}

func TestDPoPPublicClientRefreshTokenIsBound(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "offline_access"}})
	u := ts.mustUser("erin")
	dc, other := ts.dpopClient(jose.ES256), ts.dpopClient(jose.ES256)
	code, v := ts.dpopCode(c, u, "", "openid", "offline_access")
	m := decode(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"redirect_uri": {c.RedirectURIs[0]}, "client_id": {c.ID}}, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
	rt, _ := m["refresh_token"].(string)
	refresh := func(rt string, proofs []string) *http.Response {
		return ts.postDPoP(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ID}}, proofs)
	}
	// Stolen without the key, the refresh token is useless.
	wantError(t, refresh(rt, nil), http.StatusBadRequest, CodeInvalidDPoPProof)
	wantError(t, refresh(rt, ts.tokenProof(other, dpoptest.Options{})), http.StatusBadRequest, CodeInvalidGrant)
	m = decode(t, refresh(rt, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
	claims, err := ts.verifyAccess(m["access_token"].(string), "")
	if err != nil || claims.JKT != dc.JKT() || m["token_type"] != "DPoP" {
		t.Fatalf("%v %v %v", m, claims, err)
	}
	// The rotated token keeps the binding.
	wantError(t, refresh(m["refresh_token"].(string), ts.tokenProof(other, dpoptest.Options{})), http.StatusBadRequest, CodeInvalidGrant)
}

func TestDPoPConfidentialClientRefreshTokenIsNotBound(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("fay")
	dc, other := ts.dpopClient(jose.ES256), ts.dpopClient(jose.ES256)
	code, v := ts.dpopCode(c, u, "", "openid", "offline_access")
	m := decode(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"redirect_uri": {c.RedirectURIs[0]}}, ts.tokenProof(dc, dpoptest.Options{}), c.ID, secret), http.StatusOK)
	m = decode(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}},
		ts.tokenProof(other, dpoptest.Options{}), c.ID, secret), http.StatusOK)
	claims, err := ts.verifyAccess(m["access_token"].(string), "")
	if err != nil || claims.JKT != other.JKT() {
		t.Fatalf("the new access token is not bound to the new proof's key: %v %v", claims, err)
	}
}

func TestDPoPUserinfo(t *testing.T) {
	ts := newTestServer(t)
	c, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "profile"}})
	u := ts.mustUser("gus")
	dc := ts.dpopClient(jose.ES256)
	// Issued without resource: the default audience.
	code, v, _ := ts.issueCode(c, u, codeOpts{scopes: []string{"openid", "profile"}, audiences: []string{ts.URL}})
	m := decode(t, ts.postDPoP(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"redirect_uri": {c.RedirectURIs[0]}, "client_id": {c.ID}}, ts.tokenProof(dc, dpoptest.Options{})), http.StatusOK)
	at := m["access_token"].(string)
	get := func(scheme string, proof string) *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+PathUserinfo, nil)
		req.Header.Set("Authorization", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	proof := dc.Proof("GET", ts.URL+PathUserinfo, dpoptest.Options{AccessToken: at})
	info := decode(t, get("DPoP", proof), http.StatusOK)
	if info["sub"] != u.ID || info["preferred_username"] != "gus" {
		t.Fatalf("%v", info)
	}
	// Through a real client: x/oauth2 sends Authorization itself; the DPoP
	// transport adds the proof.
	hc := &http.Client{Transport: &dpoptest.Transport{Client: dc, Token: at}}
	resp, err := hc.Get(ts.URL + PathUserinfo)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, resp, http.StatusOK)
	resp.Body.Close()

	algs := `algs="ES256 EdDSA RS256"`
	for _, tc := range []struct {
		name, scheme, proof, code string
	}{
		{"downgraded to Bearer", "Bearer", dc.Proof("GET", ts.URL+PathUserinfo, dpoptest.Options{AccessToken: at}), CodeInvalidToken},
		{"no proof", "DPoP", "", CodeInvalidDPoPProof},
		{"replayed proof", "DPoP", proof, CodeInvalidDPoPProof},
		{"proof for another URL", "DPoP", dc.Proof("GET", ts.URL+PathToken, dpoptest.Options{AccessToken: at}), CodeInvalidDPoPProof},
		{"proof for another method", "DPoP", dc.Proof("POST", ts.URL+PathUserinfo, dpoptest.Options{AccessToken: at}), CodeInvalidDPoPProof},
		{"proof without ath", "DPoP", dc.Proof("GET", ts.URL+PathUserinfo, dpoptest.Options{}), CodeInvalidDPoPProof},
		{"proof by another key", "DPoP", ts.dpopClient(jose.ES256).Proof("GET", ts.URL+PathUserinfo, dpoptest.Options{AccessToken: at}), CodeInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(tc.scheme, tc.proof)
			wantError(t, resp, http.StatusUnauthorized, tc.code)
			ch := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+tc.code+`"`) || !strings.HasSuffix(ch, algs) {
				t.Errorf("WWW-Authenticate %q", ch)
			}
		})
	}
}

func TestDiscoveryListsDPoPAlgorithms(t *testing.T) {
	ts := newTestServer(t)
	resp, err := http.Get(ts.URL + PathOIDCDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || strings.Join(m.Algs, " ") != strings.Join(verify.DefaultDPoPAlgorithms, " ") {
		t.Fatalf("%v %v", m, err)
	}
}
