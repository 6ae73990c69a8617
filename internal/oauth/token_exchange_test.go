package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/verify"
)

const (
	audA = "https://api.example.com"   // the first service's API: users' tokens are addressed to it
	audB = "https://other.example.com" // the API the first service calls on the user's behalf
)

// exchangeClient registers a confidential client allowed the token
// exchange (and client credentials, for its own actor tokens), with edit's
// changes to its registration.
func (ts *testServer) exchangeClient(edit func(*client.Input)) (*auth.Client, string) {
	ts.t.Helper()
	in := client.Input{
		AuthMethod: auth.AuthMethodSecretBasic,
		GrantTypes: []string{auth.GrantClientCredentials, auth.GrantTokenExchange},
		Scopes:     []string{"openid", "read", "write"},
		Audiences:  []string{audB},
	}
	if edit != nil {
		edit(&in)
	}
	return ts.mustClient(in)
}

// userToken signs user u in through a web client (code flow) and returns
// the access token, addressed to audA, with the web client and its secret.
func (ts *testServer) userToken(u *auth.User, scopes ...string) (token string, web *auth.Client, webSecret string) {
	ts.t.Helper()
	web, webSecret = ts.confidentialClient(auth.AuthMethodSecretBasic)
	code, verifier, _ := ts.issueCode(web, u, codeOpts{scopes: scopes, audiences: []string{audA}})
	tok, err := ts.oauth2Config(web, webSecret).Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		ts.t.Fatalf("code exchange: %v", err)
	}
	return tok.AccessToken, web, webSecret
}

// exchange posts a token exchange request as client c; x/oauth2 has no
// token exchange, so it is a plain form POST, as curl would send it.
func (ts *testServer) exchange(c *auth.Client, secret string, params url.Values) *http.Response {
	ts.t.Helper()
	form := url.Values{"grant_type": {auth.GrantTokenExchange}}
	for k, v := range params {
		form[k] = v
	}
	return ts.post(PathToken, form, c.ID, secret)
}

// exchangedClaims are what a relying party reads of an exchanged token.
type exchangedClaims struct {
	Sub      string          `json:"sub"`
	ClientID string          `json:"client_id"`
	Scope    string          `json:"scope"`
	Act      *verify.Actor   `json:"act"`
	Aud      json.RawMessage `json:"aud"`
}

// TestTokenExchangeWithRealClients: service A gets its own token with
// x/oauth2's client credentials, exchanges a user's token for one to call
// service B as the actor, and B verifies the result with go-oidc and with
// package verify.
func TestTokenExchangeWithRealClients(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	u := ts.mustUser("alice")
	userTok, _, _ := ts.userToken(u, "openid", "read", "write")
	svc, secret := ts.exchangeClient(nil)

	cc := clientcredentials.Config{ClientID: svc.ID, ClientSecret: secret, TokenURL: ts.URL + PathToken, Scopes: []string{"read"}}
	actorTok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	resp := ts.exchange(svc, secret, url.Values{
		"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken},
		"actor_token": {actorTok.AccessToken}, "actor_token_type": {TokenTypeAccessToken},
		"audience": {audB}, "scope": {"read"},
	})
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	m := decode(t, resp, http.StatusOK)
	if m["issued_token_type"] != TokenTypeAccessToken || m["token_type"] != "Bearer" || m["scope"] != "read" ||
		m["refresh_token"] != nil || m["id_token"] != nil || m["expires_in"] != float64(DefaultAccessTokenTTL/time.Second) {
		t.Errorf("response %v", m)
	}
	issued := m["access_token"].(string)

	// Service B: go-oidc, with its API as the audience.
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("oidc.NewProvider: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: audB}).Verify(ctx, issued)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	var got exchangedClaims
	if err := tok.Claims(&got); err != nil {
		t.Fatal(err)
	}
	if got.Sub != u.ID || got.ClientID != svc.ID || got.Scope != "read" || got.Act == nil || *got.Act != (verify.Actor{Subject: svc.ID}) {
		t.Errorf("claims %+v act %+v", got, got.Act)
	}
	// And package verify: typ at+jwt, the act claim as Claims.Actor.
	c, err := ts.verifyAccess(issued, audB)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Actor == nil || c.Actor.Subject != svc.ID || c.Actor.Actor != nil || c.AuthTime.IsZero() {
		t.Errorf("verify claims %+v act %+v", c, c.Actor)
	}
	if _, err := ts.verifyAccess(issued, audA); verify.ReasonOf(err) != verify.ReasonWrongAudience {
		t.Errorf("the exchanged token is still good for the subject token's audience: %v", err)
	}
	if !introspectActive(t, ts, svc, secret, issued) {
		t.Error("introspection says the exchanged token is inactive")
	}

	t.Run("another service exchanging it again nests the chain", func(t *testing.T) {
		svc2, secret2 := ts.exchangeClient(func(in *client.Input) { in.Audiences = []string{"https://third.example.com"} })
		m := decode(t, ts.exchange(svc2, secret2, url.Values{"subject_token": {issued}, "subject_token_type": {TokenTypeJWT},
			"requested_token_type": {TokenTypeJWT}}), http.StatusOK)
		if m["issued_token_type"] != TokenTypeJWT {
			t.Errorf("issued_token_type %v", m["issued_token_type"])
		}
		c, err := ts.verifyAccess(m["access_token"].(string), "https://third.example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := &verify.Actor{Subject: svc2.ID, Actor: &verify.Actor{Subject: svc.ID}}
		if !reflect.DeepEqual(c.Actor, want) || c.Subject != u.ID || c.ClientID != svc2.ID || c.Scopes[0] != "read" {
			t.Errorf("claims %+v act %+v", c, c.Actor)
		}
	})
	t.Run("without an actor token the client is the actor", func(t *testing.T) {
		m := decode(t, ts.exchange(svc, secret, url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil {
			t.Fatal(err)
		}
		// No scope asked for: those both the subject token and the client hold.
		if c.Actor == nil || *c.Actor != (verify.Actor{Subject: svc.ID}) || strings.Join(c.Scopes, " ") != "openid read write" {
			t.Errorf("claims %+v act %+v", c, c.Actor)
		}
	})
	t.Run("the token lives no longer than the subject token", func(t *testing.T) {
		ts.Clock.Add(DefaultAccessTokenTTL - time.Minute)
		m := decode(t, ts.exchange(svc, secret, url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		if m["expires_in"] != float64(60) {
			t.Errorf("expires_in %v, want 60", m["expires_in"])
		}
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || !c.ExpiresAt.Equal(ts.Clock.Now().Add(time.Minute)) {
			t.Errorf("exp %v, %v", c, err)
		}
	})
}

// A client's own token exchanged: the subject is that client, active at
// introspection and exchangeable again while the client exists.
func TestTokenExchangeOfAClientToken(t *testing.T) {
	ts := newTestServer(t)
	caller, callerSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	cc := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, caller.ID, callerSecret), http.StatusOK)
	svc, secret := ts.exchangeClient(nil)
	subject := url.Values{"subject_token": {cc["access_token"].(string)}, "subject_token_type": {TokenTypeAccessToken}}
	issued := decode(t, ts.exchange(svc, secret, subject), http.StatusOK)["access_token"].(string)
	c, err := ts.verifyAccess(issued, audB)
	if err != nil || c.Subject != caller.ID || c.ClientID != svc.ID || !c.AuthTime.IsZero() {
		t.Fatalf("claims %+v, %v", c, err)
	}
	if !introspectActive(t, ts, svc, secret, issued) {
		t.Error("inactive while its subject client exists")
	}
	svc2, secret2 := ts.exchangeClient(nil)
	again := url.Values{"subject_token": {issued}, "subject_token_type": {TokenTypeAccessToken}}
	decode(t, ts.exchange(svc2, secret2, again), http.StatusOK)

	if err := ts.Clients.Delete(context.Background(), "test", caller.ID); err != nil {
		t.Fatal(err)
	}
	if introspectActive(t, ts, svc, secret, issued) {
		t.Error("active after its subject client was deleted")
	}
	wantError(t, ts.exchange(svc2, secret2, again), http.StatusBadRequest, CodeInvalidGrant)
}

func TestTokenExchangeImpersonation(t *testing.T) {
	ts := newTestServer(t)
	u := ts.mustUser("bob")
	userTok, _, _ := ts.userToken(u, "read")
	imp, impSecret := ts.exchangeClient(func(in *client.Input) { in.AllowImpersonation = true })
	del, delSecret := ts.exchangeClient(nil)
	subject := url.Values{"subject_token": {userTok}, "subject_token_type": {TokenTypeAccessToken}}

	t.Run("a client allowed it gets a token without act", func(t *testing.T) {
		m := decode(t, ts.exchange(imp, impSecret, subject), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.Actor != nil || c.Subject != u.ID {
			t.Fatalf("claims %+v, %v", c, err)
		}
	})
	t.Run("a client not allowed it is named as the actor", func(t *testing.T) {
		m := decode(t, ts.exchange(del, delSecret, subject), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.Actor == nil || c.Actor.Subject != del.ID {
			t.Fatalf("impersonation without permission: claims %+v act %+v, %v", c, c.Actor, err)
		}
	})
	t.Run("impersonation cannot shed the subject token's own act", func(t *testing.T) {
		delegated := decode(t, ts.exchange(del, delSecret, subject), http.StatusOK)["access_token"].(string)
		m := decode(t, ts.exchange(imp, impSecret, url.Values{"subject_token": {delegated}, "subject_token_type": {TokenTypeAccessToken}}), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil || c.Actor == nil || *c.Actor != (verify.Actor{Subject: del.ID}) {
			t.Fatalf("claims %+v act %+v, %v", c, c.Actor, err)
		}
	})
}

// TestTokenExchangeAttacks: each case is an attempt to get a token the
// client should not have.
func TestTokenExchangeAttacks(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	u := ts.mustUser("carol")
	userTok, web, webSecret := ts.userToken(u, "openid", "read")
	svc, secret := ts.exchangeClient(nil)
	noGrant, noGrantSecret := ts.mustClient(client.Input{
		AuthMethod: auth.AuthMethodSecretBasic, GrantTypes: []string{auth.GrantClientCredentials},
		Scopes: []string{"read"}, Audiences: []string{audB},
	})
	idp := newExchangeIdP(t)
	trusting, trustingSecret := ts.exchangeClient(func(in *client.Input) { in.ExchangeIssuers = []string{idp.URL} })
	subject := func(tok string) url.Values {
		return url.Values{"subject_token": {tok}, "subject_token_type": {TokenTypeAccessToken}}
	}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}

	for _, tc := range []struct {
		name   string
		c      *auth.Client
		secret string
		form   url.Values
		status int
		code   string
	}{
		{"an audience the client may not exchange for", svc, secret, with(subject(userTok), "audience", "https://evil.example.com"), 400, CodeInvalidTarget},
		{"a resource the client may not exchange for", svc, secret, with(subject(userTok), "resource", audA), 400, CodeInvalidTarget},
		{"a scope the subject token lacks", svc, secret, with(subject(userTok), "scope", "read write"), 400, CodeInvalidScope},
		{"a scope the client lacks", svc, secret, with(subject(userTok), "scope", "read admin"), 400, CodeInvalidScope},
		{"a client without the grant", noGrant, noGrantSecret, subject(userTok), 400, CodeUnauthorizedClient},
		{"a forged subject token", svc, secret, subject(forgeToken(t, ts.URL, u.ID)), 400, CodeInvalidGrant},
		{"a subject token that is no JWT", svc, secret, subject("gh_rt_not-a-jwt"), 400, CodeInvalidGrant},
		{"an untrusted issuer's token", svc, secret, subject(idp.token(t, "ext-user", []string{svc.ID}, "read")), 400, CodeInvalidGrant},
		{"a trusted issuer's token addressed to another service", trusting, trustingSecret, subject(idp.token(t, "ext-user", []string{"https://elsewhere.example"}, "read")), 400, CodeInvalidGrant},
		{"a trusted issuer's token for openid", trusting, trustingSecret, with(subject(idp.token(t, "ext-user", []string{trusting.ID}, "openid read")), "scope", "openid"), 400, CodeInvalidScope},
		{"a forged actor token", svc, secret, with(subject(userTok), "actor_token", forgeToken(t, ts.URL, svc.ID), "actor_token_type", TokenTypeAccessToken), 400, CodeInvalidGrant},
		{"an ID token as the subject", svc, secret, subject(idTokenOf(t, ts, web, webSecret, u)), 400, CodeInvalidGrant},
		{"no subject token", svc, secret, url.Values{"subject_token_type": {TokenTypeAccessToken}}, 400, CodeInvalidRequest},
		{"no subject token type", svc, secret, url.Values{"subject_token": {userTok}}, 400, CodeInvalidRequest},
		{"an unsupported subject token type", svc, secret, url.Values{"subject_token": {userTok}, "subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, 400, CodeInvalidRequest},
		{"a refresh token requested", svc, secret, with(subject(userTok), "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, CodeInvalidRequest},
		{"an actor token without its type", svc, secret, with(subject(userTok), "actor_token", userTok), 400, CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, ts.exchange(tc.c, tc.secret, tc.form), tc.status, tc.code)
		})
	}

	t.Run("a trusted issuer's token addressed to the client", func(t *testing.T) {
		m := decode(t, ts.exchange(trusting, trustingSecret, subject(idp.token(t, "ext-user", []string{trusting.ID}, "openid read"))), http.StatusOK)
		c, err := ts.verifyAccess(m["access_token"].(string), audB)
		if err != nil {
			t.Fatal(err)
		}
		// Its OpenID Connect scope is not carried over.
		if c.Subject != foreignSubject(idp.URL, "ext-user") || c.Issuer != ts.URL || strings.Join(c.Scopes, " ") != "read" || c.Actor == nil || c.Actor.Subject != trusting.ID {
			t.Errorf("claims %+v act %+v", c, c.Actor)
		}
	})
	t.Run("a revoked subject token", func(t *testing.T) {
		tok, w, ws := ts.userToken(u, "read")
		decode(t, ts.post(PathRevoke, url.Values{"token": {tok}}, w.ID, ws), http.StatusOK)
		wantError(t, ts.exchange(svc, secret, subject(tok)), 400, CodeInvalidGrant)
	})
	t.Run("a subject token of a disabled user", func(t *testing.T) {
		dave := ts.mustUser("dave")
		tok, _, _ := ts.userToken(dave, "read")
		if _, err := ts.Accounts.Disable(ctx, "test", dave.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, ts.exchange(svc, secret, subject(tok)), 400, CodeInvalidGrant)
	})
	t.Run("an expired subject token", func(t *testing.T) {
		tok, _, _ := ts.userToken(u, "read")
		ts.Clock.Add(DefaultAccessTokenTTL + ts.Keys.Leeway() + time.Second)
		wantError(t, ts.exchange(svc, secret, subject(tok)), 400, CodeInvalidGrant)
	})
	t.Run("a public client (which registration refuses the grant)", func(t *testing.T) {
		pub, _ := ts.mustClient(client.Input{
			Public: true, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"read"}, Audiences: []string{audB},
		})
		pub.GrantTypes = append(pub.GrantTypes, auth.GrantTokenExchange)
		if err := ts.Store.UpdateClient(ctx, pub, pub.UpdatedAt); err != nil {
			t.Fatal(err)
		}
		ts.Clients.Forget(pub.ID)
		tok, _, _ := ts.userToken(u, "read")
		wantError(t, ts.post(PathToken, with(subject(tok), "grant_type", auth.GrantTokenExchange, "client_id", pub.ID)), 400, CodeUnauthorizedClient)
	})
}

// forgeToken is an access token of the right shape for iss, signed by a
// key that is not the server's.
func forgeToken(t *testing.T, iss, sub string) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return signJWT(t, key, "k1", "at+jwt", map[string]any{
		"iss": iss, "sub": sub, "aud": audA, "client_id": sub, "scope": "read write",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": rand.Text(),
	})
}

func signJWT(t *testing.T, key *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	return signJWS(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, typ, claims)
}

// signJWS signs claims as a compact JWS with the typ header given.
func signJWS(t *testing.T, key jose.SigningKey, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// idTokenOf is an ID token of the server's for u.
func idTokenOf(t *testing.T, ts *testServer, web *auth.Client, secret string, u *auth.User) string {
	code, verifier, _ := ts.issueCode(web, u, codeOpts{scopes: []string{"openid", "read"}, audiences: []string{audA}})
	tok, err := ts.oauth2Config(web, secret).Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

// exchangeIdP is another issuer: OIDC discovery and an ES256 JWKS.
type exchangeIdP struct {
	*httptest.Server
	key *ecdsa.PrivateKey
}

func newExchangeIdP(t *testing.T) *exchangeIdP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &exchangeIdP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "idp1", Algorithm: "ES256", Use: "sig"}}})
	})
	idp.Server = httptest.NewServer(mux)
	t.Cleanup(idp.Close)
	return idp
}

// token is an access token of the IdP's for sub, addressed to aud.
func (idp *exchangeIdP) token(t *testing.T, sub string, aud []string, scope string) string {
	now := time.Now()
	return signJWT(t, idp.key, "idp1", "at+jwt", map[string]any{
		"iss": idp.URL, "sub": sub, "aud": aud, "scope": scope, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

func TestTokenIssuer(t *testing.T) {
	tok := forgeToken(t, "https://gatehouse.example", "usr_1")
	for _, tc := range []struct {
		token string
		iss   string
		ok    bool
	}{
		{tok, "https://gatehouse.example", true},
		{"a.b.c", "", false},
		{"x." + b64("{}") + ".y", "", false},
		{"x." + b64(`{"iss":7}`) + ".y", "", false},
		{"x." + b64(`{"iss":"a","iss":"b"}`) + ".y", "", false},
		{"x." + b64(`{"iss":"a"}`) + ".y.z", "", false},
		{"x." + b64(`{"iss":"a"}`) + ".y", "a", true},
		{strings.Repeat("a", maxExchangeTokenBytes) + "." + b64(`{"iss":"a"}`) + ".y", "", false},
	} {
		if iss, ok := tokenIssuer(tc.token); iss != tc.iss || ok != tc.ok {
			t.Errorf("tokenIssuer(%.40q) = %q, %v", tc.token, iss, ok)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// FuzzTokenIssuer: no input panics, and an issuer is only ever read from
// a payload that says it.
func FuzzTokenIssuer(f *testing.F) {
	f.Add("x." + b64(`{"iss":"https://a"}`) + ".y")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		iss, ok := tokenIssuer(token)
		if ok != (iss != "") {
			t.Fatalf("tokenIssuer = %q, %v", iss, ok)
		}
		if ok && !strings.Contains(token, ".") {
			t.Fatal("an issuer from a token without parts")
		}
	})
}

// FuzzParseExchangeRequest: no form panics; an accepted request names a
// subject token of a supported type, an actor token only with a supported
// type, and a supported requested type.
func FuzzParseExchangeRequest(f *testing.F) {
	f.Add("subject_token=a.b.c&subject_token_type=" + url.QueryEscape(TokenTypeAccessToken))
	f.Add("subject_token=a&subject_token_type=" + url.QueryEscape(TokenTypeJWT) + "&actor_token=b&actor_token_type=" + url.QueryEscape(TokenTypeJWT) + "&audience=https%3A%2F%2Fb&resource=https%3A%2F%2Fc&scope=read")
	f.Add("subject_token=a&subject_token_type=x&requested_token_type=y")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := parseForm("application/x-www-form-urlencoded", []byte(body))
		if err != nil {
			return
		}
		req, err := parseExchangeRequest(form)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("not an OAuth error: %v", err)
			}
			return
		}
		if req.subjectToken == "" || !exchangeableType(req.subjectTokenType) || !exchangeableType(req.requestedTokenType) ||
			(req.actorToken != "") != (req.actorTokenType != "") || (req.actorToken != "" && !exchangeableType(req.actorTokenType)) ||
			len(req.targets) > maxResources {
			t.Fatalf("accepted %+v", req)
		}
	})
}
