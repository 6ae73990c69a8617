package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

func TestInternalJWT(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InternalTokenTTL = time.Hour })
	r := e.route("internal", "/in", auth.PolicyAny)
	r.InternalJWT = true
	e.setRoutes(r)
	k, key := e.createKey("svc", []string{"a", "b"}, auth.RateLimit{})

	// The upstream verifies the token as any service using the verify
	// package would: Gatehouse's JWKS, its own URL as the audience.
	v, err := verify.New(verify.Config{Issuer: testIssuer, JWKS: e.keyring.JWKS, Audience: e.upstream.URL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	internal := func(got echo) (string, *verify.Claims) {
		t.Helper()
		tok, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
		if !ok {
			t.Fatalf("no internal token: Authorization %q", got.Header.Get("Authorization"))
		}
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("the internal token does not verify: %v", err)
		}
		return tok, c
	}

	got := echoOf(t, e.do("GET", "/in", "X-API-Key", key))
	apiKeyNeverForwarded(t, got, key)
	tok1, c := internal(got)
	if c.Subject != "svc" || c.ClientID != "svc" || strings.Join(c.Scopes, " ") != "a b" || c.ExpiresAt.Sub(e.clock.Now()) != time.Hour || c.ID == "" {
		t.Errorf("claims: %+v", c)
	}
	// An exchanged token (RFC 8693): the gateway acts for the caller.
	if c.Actor == nil || *c.Actor != (verify.Actor{Subject: DefaultActor}) {
		t.Errorf("act: %+v", c.Actor)
	}
	var extra struct {
		Auth  string `json:"gatehouse_auth"`
		KeyID string `json:"gatehouse_key_id"`
	}
	decodePayload(t, tok1, &extra)
	if extra.Auth != "api_key" || extra.KeyID != k.ID {
		t.Errorf("gatehouse claims: %+v", extra)
	}

	t.Run("an internal token replayed to the gateway is refused", func(t *testing.T) {
		e.setRoutes(r, e.route("users", "/users", auth.PolicyJWT))
		resp := e.do("GET", "/users", "Authorization", "Bearer "+tok1)
		wantStatus(t, resp, http.StatusUnauthorized)
		if n := value(t, e.gw.metrics.refusals.WithLabelValues("users", "wrong_type")); n != 1 {
			t.Errorf("refusals{users,wrong_type} = %v", n)
		}
	})
	t.Run("reused while more than half its life is left", func(t *testing.T) {
		e.clock.Add(7 * time.Minute)
		tok2, _ := internal(echoOf(t, e.do("GET", "/in", "X-API-Key", key)))
		if tok2 != tok1 {
			t.Error("a fresh internal token was minted for the same caller")
		}
		e.clock.Add(24 * time.Minute) // 31 minutes: past half of the hour
		tok3, _ := internal(echoOf(t, e.do("GET", "/in", "X-API-Key", key)))
		if tok3 == tok1 {
			t.Error("a token past half its life was reused")
		}
		tok1 = tok3
	})
	t.Run("a signing key rotation mints with the new key at once", func(t *testing.T) {
		e.clock.Add(7 * time.Minute) // the next key has been published long enough
		if tok, _ := internal(echoOf(t, e.do("GET", "/in", "X-API-Key", key))); tok != tok1 {
			t.Fatal("expected a cache hit before the rotation")
		}
		oldKID := e.keyring.CurrentKeyID()
		info, err := e.keyring.Rotate(context.Background(), "")
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if info.ID == oldKID {
			t.Fatal("the rotation kept the kid")
		}
		_, c := internal(echoOf(t, e.do("GET", "/in", "X-API-Key", key)))
		if c.KeyID != info.ID {
			t.Errorf("internal token signed by %s after rotation to %s", c.KeyID, info.ID)
		}
	})
	t.Run("JWT callers get their own identity", func(t *testing.T) {
		user := e.token(tokenClaims{Sub: "carol", ClientID: "web", Scope: "x"})
		got := echoOf(t, e.do("GET", "/in", "Authorization", "Bearer "+user))
		tok, c := internal(got)
		if tok == user || c.Subject != "carol" || c.ClientID != "web" {
			t.Errorf("internal token for a JWT caller: %+v", c)
		}
		decodePayload(t, tok, &extra)
		if extra.Auth != "jwt" {
			t.Errorf("gatehouse_auth = %q", extra.Auth)
		}
	})
	t.Run("a caller's own act chain nests below the gateway", func(t *testing.T) {
		now := e.clock.Now()
		exchanged := func(actor string) string {
			tok, err := e.keyring.Sign("at+jwt", verify.Claims{
				Issuer: testIssuer, Subject: "carol", ClientID: "svc-b", Scopes: []string{"x"}, ID: rand.Text(),
				IssuedAt: now, ExpiresAt: now.Add(time.Hour), Actor: &verify.Actor{Subject: actor},
			})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		_, c := internal(echoOf(t, e.do("GET", "/in", "Authorization", "Bearer "+exchanged("svc-b"))))
		want := verify.Actor{Subject: DefaultActor, Actor: &verify.Actor{Subject: "svc-b"}}
		if c.Actor == nil || c.Actor.Subject != want.Subject || c.Actor.Actor == nil || *c.Actor.Actor != *want.Actor {
			t.Errorf("act: %+v", c.Actor)
		}
		// Same subject, client and scopes, another actor: not the
		// token minted for the first one.
		_, c = internal(echoOf(t, e.do("GET", "/in", "Authorization", "Bearer "+exchanged("svc-c"))))
		if c.Actor == nil || c.Actor.Actor == nil || c.Actor.Actor.Subject != "svc-c" {
			t.Errorf("act for the second actor: %+v", c.Actor)
		}
	})
}

func decodePayload(t *testing.T, tok string, v any) {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), v); err != nil {
		t.Fatal(err)
	}
}

// testIdP is another identity provider: OIDC discovery and an RSA JWKS.
type testIdP struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newTestIdP(t *testing.T) *testIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "idp-1", Algorithm: "RS256", Use: "sig"}}})
	})
	idp.Server = httptest.NewServer(mux)
	t.Cleanup(idp.Close)
	return idp
}

func (idp *testIdP) token(t *testing.T, now time.Time, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: idp.key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "idp-1"))
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"iss": idp.URL, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": rand.Text()}
	for k, v := range claims {
		c[k] = v
	}
	payload, _ := json.Marshal(c)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// doOnceKeysFetched is do, repeated while the answer is 503: an external
// issuer's verifier fetches its keys in the background and refuses until
// then. The deadline is generous.
func (e *testEnv) doOnceKeysFetched(method, path string, headers ...string) *http.Response {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := e.do(method, path, headers...)
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return resp
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExternalIssuer(t *testing.T) {
	e := newTestEnv(t)
	idp := newTestIdP(t)
	ext := e.route("partner", "/partner", auth.PolicyJWT)
	ext.Issuer = idp.URL
	ext.Audience, ext.AnyAudience = "partner-api", false
	ext.Scopes = []string{"read"}
	own := e.route("own", "/own", auth.PolicyJWT)
	e.setRoutes(ext, own)

	idpTok := idp.token(t, e.clock.Now(), map[string]any{"sub": "ext-user", "aud": "partner-api", "scope": "read write", "client_id": "partner-app"})
	got := echoOf(t, e.doOnceKeysFetched("GET", "/partner/x", "Authorization", "Bearer "+idpTok))
	if got.Header.Get(HeaderSubject) != "ext-user" || got.Header.Get(HeaderClient) != "partner-app" {
		t.Errorf("identity of the IdP's token: %v", got.Header)
	}

	gatehouseTok := e.token(tokenClaims{Sub: "alice", Aud: []string{"partner-api"}, Scope: "read"})
	wantStatus(t, e.do("GET", "/partner/x", "Authorization", "Bearer "+gatehouseTok), http.StatusUnauthorized)
	wantStatus(t, e.do("GET", "/own/x", "Authorization", "Bearer "+idpTok), http.StatusUnauthorized)
	echoOf(t, e.do("GET", "/own/x", "Authorization", "Bearer "+gatehouseTok))

	wrongAud := idp.token(t, e.clock.Now(), map[string]any{"sub": "u", "aud": "other", "scope": "read"})
	wantStatus(t, e.do("GET", "/partner/x", "Authorization", "Bearer "+wrongAud), http.StatusUnauthorized)

	t.Run("the verifier survives a reload", func(t *testing.T) {
		before := e.gw.table.Load().routes
		var v *verify.Verifier
		for _, r := range before {
			if r.name == "partner" {
				v = r.verifier
			}
		}
		ext2 := ext
		ext2.Scopes = nil
		e.setRoutes(ext2, own, e.route("more", "/more", auth.PolicyPublic))
		if m, _ := e.gw.table.Load().match("", "/partner", "GET"); m == nil || m.verifier != v {
			t.Error("the external verifier was rebuilt on a reload that kept its issuer")
		}
		echoOf(t, e.do("GET", "/partner/x", "Authorization", "Bearer "+idpTok))
	})
}
