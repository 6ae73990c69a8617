package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// withRegistration turns dynamic registration on, with policy.
func withRegistration(policy RegistrationPolicy) func(*Config) {
	return func(c *Config) {
		c.Registrar = c.Clients.(*client.Registry)
		c.Registration = policy
	}
}

// initialToken issues an initial access token as an admin would.
func (ts *testServer) initialToken(uses int, ttl time.Duration) (*auth.InitialAccessToken, string) {
	ts.t.Helper()
	tok, plaintext, err := ts.Clients.IssueInitialToken(context.Background(), "key_admin", uses, ttl)
	if err != nil {
		ts.t.Fatalf("IssueInitialToken: %v", err)
	}
	return tok, plaintext
}

// register sends a request to the registration or a configuration
// endpoint with a JSON body and a bearer token ("" for none).
func (ts *testServer) register(method, path, token string, body any) *http.Response {
	ts.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// nativeApp is the registration of a public native app with a loopback
// redirect URI (RFC 8252 7.3).
func nativeApp() map[string]any {
	return map[string]any{
		"application_type":           "native",
		"client_name":                "Photo CLI",
		"redirect_uris":              []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid profile offline_access",
		"contacts":                   []string{"dev@photo.example"},
		"client_uri":                 "https://photo.example",
		"software_id":                "4NRB1-0XZABZI9E6-5SM3R",
		"software_version":           "2.1",
	}
}

// webApp is the registration of a confidential web application.
func webApp() map[string]any {
	return map[string]any{
		"client_name":   "Billing",
		"redirect_uris": []string{"https://billing.example/cb"},
		"grant_types":   []string{"authorization_code"},
		"scope":         "openid email",
	}
}

// TestRegisteredNativeClientCompletesCodeFlow is the issue's case: a
// client registered dynamically (RFC 7591 JSON, application_type and
// scope) completes a code flow with scope=openid and no resource, using
// golang.org/x/oauth2 and go-oidc unchanged: a public native client with
// a loopback redirect URI on a port of its choosing.
func TestRegisteredNativeClientCompletesCodeFlow(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies, withRegistration(RegistrationPolicy{}))
	u := ts.mustUser("alice")
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var disc struct {
		RegistrationEndpoint string `json:"registration_endpoint"`
	}
	if err := provider.Claims(&disc); err != nil || disc.RegistrationEndpoint != ts.URL+PathRegister {
		t.Fatalf("registration_endpoint = %q (%v)", disc.RegistrationEndpoint, err)
	}

	_, initial := ts.initialToken(1, time.Hour)
	reg := decode(t, ts.register(http.MethodPost, PathRegister, initial, nativeApp()), http.StatusCreated)
	clientID, _ := reg["client_id"].(string)
	if !client.ValidID(clientID) {
		t.Fatalf("client_id %v", reg["client_id"])
	}
	if _, ok := reg["client_secret"]; ok {
		t.Fatal("a public client got a secret")
	}
	if !strings.HasPrefix(reg["registration_access_token"].(string), client.RegistrationTokenPrefix) ||
		reg["registration_client_uri"] != ts.URL+PathRegister+"/"+clientID {
		t.Fatalf("registration credentials: %v", reg)
	}
	for name, want := range map[string]any{
		"application_type": "native", "token_endpoint_auth_method": "none", "client_name": "Photo CLI",
		"scope": "offline_access openid profile", "client_uri": "https://photo.example", "software_version": "2.1",
	} {
		if reg[name] != want {
			t.Errorf("%s = %v, want %v", name, reg[name], want)
		}
	}
	if issued, _ := reg["client_id_issued_at"].(float64); int64(issued) != ts.Clock.Now().Unix() {
		t.Errorf("client_id_issued_at %v", reg["client_id_issued_at"])
	}

	// The loopback port is the app's choice at run time (RFC 8252 7.3).
	redirect := "http://127.0.0.1:53817/callback"
	conf := &oauth2.Config{ClientID: clientID, Endpoint: provider.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID}}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t, ts)
	consent := b.login(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", testPassword)
	if !strings.Contains(consent.body, "Photo CLI") {
		t.Fatalf("consent page does not name the registered client:\n%s", consent.body)
	}
	code := b.codeFrom(b.submit(consent, map[string][]string{"decision": {"allow"}}), redirect, "st")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, rawID)
	if err != nil || idt.Subject != u.ID {
		t.Fatalf("ID token: %v, %v", idt, err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != u.ID {
		t.Fatalf("userinfo: %v, %v", info, err)
	}
}

// TestClientConfigurationEndpoint reads, replaces and deletes a
// registration with its registration access token (RFC 7592).
func TestClientConfigurationEndpoint(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{}))
	_, initial := ts.initialToken(1, time.Hour)
	reg := decode(t, ts.register(http.MethodPost, PathRegister, initial, webApp()), http.StatusCreated)
	id, secret, rat := reg["client_id"].(string), reg["client_secret"].(string), reg["registration_access_token"].(string)
	if !client.ValidSecret(secret) || reg["client_secret_expires_at"] != float64(0) || reg["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("confidential registration: %v", reg)
	}
	path := PathRegister + "/" + id

	got := decode(t, ts.register(http.MethodGet, path, rat, nil), http.StatusOK)
	if got["client_id"] != id || got["client_name"] != "Billing" || got["client_secret"] != nil || got["registration_access_token"] != nil ||
		got["client_secret_expires_at"] != float64(0) {
		t.Fatalf("GET: %v", got)
	}

	// The registered secret works at the token endpoint.
	c, err := ts.Clients.Get(context.Background(), id)
	if err != nil || !ts.Clients.SecretMatches(c, secret) {
		t.Fatalf("registered secret does not match: %v", err)
	}

	// PUT replaces the metadata, echoing what the server set, and rotates
	// the registration access token.
	update := got
	update["client_name"] = "Billing 2"
	update["redirect_uris"] = []string{"https://billing.example/cb2"}
	update["client_secret"] = secret
	put := decode(t, ts.register(http.MethodPut, path, rat, update), http.StatusOK)
	newRAT, _ := put["registration_access_token"].(string)
	if put["client_name"] != "Billing 2" || newRAT == "" || newRAT == rat || put["client_secret"] != nil {
		t.Fatalf("PUT: %v", put)
	}
	if c, _ := ts.Clients.Get(context.Background(), id); !ts.Clients.SecretMatches(c, secret) {
		t.Fatal("PUT changed the secret")
	}
	wantError(t, ts.register(http.MethodGet, path, rat, nil), http.StatusUnauthorized, CodeInvalidToken)

	// A client_secret that is not the current one is refused: PUT cannot
	// set a secret.
	update["client_secret"] = "gate_cs_" + strings.Repeat("A", 40)
	wantError(t, ts.register(http.MethodPut, path, newRAT, update), http.StatusBadRequest, CodeInvalidClientMetadata)
	delete(update, "client_secret")
	update["client_id"] = "cli_other"
	wantError(t, ts.register(http.MethodPut, path, newRAT, update), http.StatusBadRequest, CodeInvalidClientMetadata)

	resp := ts.register(http.MethodDelete, path, newRAT, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	wantError(t, ts.register(http.MethodGet, path, newRAT, nil), http.StatusUnauthorized, CodeInvalidToken)
	if _, err := ts.Clients.Get(context.Background(), id); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("client after DELETE: %v", err)
	}

	// Each change is audited with the client as the actor after the
	// initial token's registration.
	evs, _, err := ts.Store.ListAuditEvents(context.Background(), auth.AuditFilter{KeyID: id, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type+"/"+ev.Actor)
	}
	if want := []string{"client.created/" + initialID(t, ts), "client.updated/" + id, "client.deleted/" + id}; !slices.Equal(types, want) {
		t.Fatalf("audit = %v, want %v", types, want)
	}
}

func initialID(t *testing.T, ts *testServer) string {
	t.Helper()
	list, _, err := ts.Clients.ListInitialTokens(context.Background(), auth.InitialAccessTokenFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListInitialTokens: %v, %v", list, err)
	}
	return list[0].ID
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestRegistrationAttacks tries what a registrant should not get away
// with; none of it registers a client.
func TestRegistrationAttacks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{}))
	_, initial := ts.initialToken(1000, time.Hour)
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"http redirect URI on a public host", initial, with(webApp(), "redirect_uris", []string{"http://evil.example/cb"}), 400, CodeInvalidRedirectURI},
		{"redirect URI with a fragment", initial, with(webApp(), "redirect_uris", []string{"https://billing.example/cb#x"}), 400, CodeInvalidRedirectURI},
		{"wildcard redirect URI", initial, with(webApp(), "redirect_uris", []string{"https://*.billing.example/cb"}), 400, CodeInvalidRedirectURI},
		{"private-use scheme for a confidential client", initial, with(webApp(), "redirect_uris", []string{"com.example.app:/cb"}), 400, CodeInvalidRedirectURI},
		{"bad post-logout redirect URI", initial, with(webApp(), "post_logout_redirect_uris", []string{"http://evil.example/"}), 400, CodeInvalidRedirectURI},
		{"client_credentials, which the policy does not allow", initial, with(webApp(), "grant_types", []string{"client_credentials"}, "redirect_uris", nil), 400, CodeInvalidClientMetadata},
		{"token exchange, which the policy does not allow", initial, with(webApp(), "grant_types", []string{auth.GrantTokenExchange}), 400, CodeInvalidClientMetadata},
		{"implicit response type", initial, with(webApp(), "response_types", []string{"token"}), 400, CodeInvalidClientMetadata},
		{"jwks_uri", initial, with(webApp(), "token_endpoint_auth_method", "private_key_jwt", "jwks_uri", "https://billing.example/jwks"), 400, CodeInvalidClientMetadata},
		{"private JWK", initial, with(webApp(), "token_endpoint_auth_method", "private_key_jwt", "jwks", json.RawMessage(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)), 400, CodeInvalidClientMetadata},
		{"bad scope", initial, with(webApp(), "scope", "openid  email"), 400, CodeInvalidClientMetadata},
		{"wrong member type", initial, `{"redirect_uris":"https://billing.example/cb"}`, 400, CodeInvalidClientMetadata},
		{"not an object", initial, `[1,2]`, 400, CodeInvalidClientMetadata},
		{"trailing garbage", initial, `{} {}`, 400, CodeInvalidClientMetadata},
		{"javascript client_uri", initial, with(webApp(), "client_uri", "javascript:alert(1)"), 400, CodeInvalidClientMetadata},
		{"unknown application type", initial, with(webApp(), "application_type", "tv"), 400, CodeInvalidClientMetadata},
		{"software statement nobody trusts", initial, with(webApp(), "software_statement", "a.b.c"), 400, CodeUnapprovedSoftwareStatement},
		{"no initial access token", "", webApp(), 401, ""},
		{"forged initial access token", "gate_iat_" + strings.Repeat("x", 40), webApp(), 401, CodeInvalidToken},
		{"a registration access token as initial token", "gate_rat_" + strings.Repeat("x", 40), webApp(), 401, CodeInvalidToken},
		{"open registration of a native client when not allowed", "", nativeApp(), 401, ""},
	}
	for _, tc := range cases {
		resp := ts.register(http.MethodPost, PathRegister, tc.token, tc.body)
		if tc.code == "" {
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: status %d, challenge %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			continue
		}
		t.Run(tc.name, func(t *testing.T) { wantError(t, resp, tc.status, tc.code) })
	}
	if cs, _, err := ts.Clients.List(context.Background(), auth.ClientFilter{}); err != nil || len(cs) != 0 {
		t.Fatalf("attacks registered %d clients (%v)", len(cs), err)
	}
}

// TestInitialTokenLimits: an expired, used-up or revoked initial access
// token registers nothing.
func TestInitialTokenLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{}))
	single, singleToken := ts.initialToken(1, time.Hour)
	decode(t, ts.register(http.MethodPost, PathRegister, singleToken, webApp()), http.StatusCreated)
	wantError(t, ts.register(http.MethodPost, PathRegister, singleToken, webApp()), http.StatusUnauthorized, CodeInvalidToken)

	_, expiring := ts.initialToken(5, time.Hour)
	ts.Clock.Add(time.Hour)
	wantError(t, ts.register(http.MethodPost, PathRegister, expiring, webApp()), http.StatusUnauthorized, CodeInvalidToken)

	revoked, revokedToken := ts.initialToken(5, time.Hour)
	if _, err := ts.Clients.RevokeInitialToken(context.Background(), "key_admin", revoked.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, ts.register(http.MethodPost, PathRegister, revokedToken, webApp()), http.StatusUnauthorized, CodeInvalidToken)

	cs, _, _ := ts.Clients.List(context.Background(), auth.ClientFilter{})
	if len(cs) != 1 {
		t.Fatalf("%d clients, want the single use's one", len(cs))
	}
	list, _, _ := ts.Clients.ListInitialTokens(context.Background(), auth.InitialAccessTokenFilter{})
	for _, tok := range list {
		if tok.ID == single.ID && tok.Used != 1 {
			t.Fatalf("single-use token used %d times", tok.Used)
		}
	}
}

// TestOpenRegistration: the operator may let public native clients
// register without a token; nothing else, and not without bound.
func TestOpenRegistration(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{Open: true, OpenLimit: auth.RateLimit{Rate: 1.0 / 3600, Burst: 4}}))
	reg := decode(t, ts.register(http.MethodPost, PathRegister, "", nativeApp()), http.StatusCreated)
	wantError(t, ts.register(http.MethodPost, PathRegister, "", webApp()), http.StatusBadRequest, CodeInvalidClientMetadata)
	wantError(t, ts.register(http.MethodPost, PathRegister, "", with(nativeApp(), "token_endpoint_auth_method", "client_secret_basic")), http.StatusBadRequest, CodeInvalidClientMetadata)
	wantError(t, ts.register(http.MethodPost, PathRegister, "", with(nativeApp(), "application_type", "web")), http.StatusBadRequest, CodeInvalidClientMetadata)
	// Every attempt counts: the fifth from one address within the hour is refused.
	if resp := ts.register(http.MethodPost, PathRegister, "", nativeApp()); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fifth open registration: %d", resp.StatusCode)
	}
	evs, _, _ := ts.Store.ListAuditEvents(context.Background(), auth.AuditFilter{KeyID: reg["client_id"].(string)})
	if len(evs) != 1 || evs[0].Actor != client.ActorOpenRegistration {
		t.Fatalf("audit of an open registration: %+v", evs)
	}

	// An openly registered client cannot update itself out of what open
	// registration allows.
	path, rat := PathRegister+"/"+reg["client_id"].(string), reg["registration_access_token"].(string)
	get := decode(t, ts.register(http.MethodGet, path, rat, nil), http.StatusOK)
	wantError(t, ts.register(http.MethodPut, path, rat, with(get, "application_type", "web", "redirect_uris", []string{"https://photo.example/cb"})), http.StatusBadRequest, CodeInvalidClientMetadata)
	wantError(t, ts.register(http.MethodPut, path, rat, with(get, "token_endpoint_auth_method", "client_secret_basic")), http.StatusBadRequest, CodeInvalidClientMetadata)
}

// TestRegistrationManagementAttacks: a registration access token manages
// its own client only, and never one an admin created; an update cannot
// escalate the grants.
func TestRegistrationManagementAttacks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{}))
	_, initial := ts.initialToken(2, time.Hour)
	a := decode(t, ts.register(http.MethodPost, PathRegister, initial, webApp()), http.StatusCreated)
	b := decode(t, ts.register(http.MethodPost, PathRegister, initial, webApp()), http.StatusCreated)
	aPath, aRAT, bRAT := PathRegister+"/"+a["client_id"].(string), a["registration_access_token"].(string), b["registration_access_token"].(string)

	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		wantError(t, ts.register(m, aPath, bRAT, nil), http.StatusUnauthorized, CodeInvalidToken)
	}
	wantError(t, ts.register(http.MethodPut, aPath, bRAT, with(a, "registration_access_token", nil)), http.StatusUnauthorized, CodeInvalidToken)
	if resp := ts.register(http.MethodGet, aPath, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without a token: %d", resp.StatusCode)
	}
	admin, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	wantError(t, ts.register(http.MethodGet, PathRegister+"/"+admin.ID, aRAT, nil), http.StatusUnauthorized, CodeInvalidToken)
	wantError(t, ts.register(http.MethodDelete, PathRegister+"/"+admin.ID, aRAT, nil), http.StatusUnauthorized, CodeInvalidToken)
	wantError(t, ts.register(http.MethodGet, PathRegister+"/cli_nope", aRAT, nil), http.StatusUnauthorized, CodeInvalidToken)

	// Escalation through PUT: grants the policy does not allow.
	get := decode(t, ts.register(http.MethodGet, aPath, aRAT, nil), http.StatusOK)
	for _, grants := range [][]string{
		{"authorization_code", "client_credentials"},
		{"authorization_code", auth.GrantTokenExchange},
	} {
		wantError(t, ts.register(http.MethodPut, aPath, aRAT, with(get, "grant_types", grants)), http.StatusBadRequest, CodeInvalidClientMetadata)
	}
	c, _ := ts.Clients.Get(context.Background(), a["client_id"].(string))
	if !slices.Equal(c.GrantTypes, []string{auth.GrantAuthorizationCode}) || c.AllowImpersonation {
		t.Fatalf("grants after refused updates: %v", c.GrantTypes)
	}
	// The refusals left the token working.
	decode(t, ts.register(http.MethodGet, aPath, aRAT, nil), http.StatusOK)
}

// TestSoftwareStatement: a statement signed by a trusted key is verified
// and its claims win over the same members sent in the clear.
func TestSoftwareStatement(t *testing.T) {
	t.Parallel()
	trusted, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	untrusted, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &trusted.PublicKey, KeyID: "vendor", Algorithm: "ES256", Use: "sig"}}})
	ts := newTestServer(t, withRegistration(RegistrationPolicy{SoftwareStatementKeys: set, RequireSoftwareStatement: true}))
	_, initial := ts.initialToken(10, time.Hour)
	sign := func(key *ecdsa.PrivateKey, claims map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "vendor"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := ts.Clock.Now()
	good := sign(trusted, map[string]any{"iss": "https://vendor.example", "iat": now.Unix(), "software_id": "vendor-app",
		"client_name": "Vendor App", "redirect_uris": []string{"https://vendor.example/cb"}})
	reg := decode(t, ts.register(http.MethodPost, PathRegister, initial, with(webApp(), "software_statement", good)), http.StatusCreated)
	if reg["client_name"] != "Vendor App" || reg["software_id"] != "vendor-app" || reg["software_statement"] != good ||
		reg["redirect_uris"].([]any)[0] != "https://vendor.example/cb" {
		t.Fatalf("statement claims did not take precedence: %v", reg)
	}
	for name, st := range map[string]string{
		"untrusted key": sign(untrusted, map[string]any{"iss": "https://vendor.example"}),
		"expired":       sign(trusted, map[string]any{"iss": "https://vendor.example", "exp": now.Add(-time.Hour).Unix()}),
		"no iss":        sign(trusted, map[string]any{"client_name": "x"}),
		"not a JWS":     "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, ts.register(http.MethodPost, PathRegister, initial, with(webApp(), "software_statement", st)), http.StatusBadRequest, CodeInvalidSoftwareStatement)
		})
	}
	wantError(t, ts.register(http.MethodPost, PathRegister, initial, webApp()), http.StatusBadRequest, CodeInvalidSoftwareStatement)
}

// FuzzRegistrationRequest feeds arbitrary bodies through the decoder and
// the mapping onto client.Input: an error or an input, never a panic.
func FuzzRegistrationRequest(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `[]`, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","application_type":"native"}`,
		`{"grant_types":["authorization_code"],"response_types":[],"scope":"openid"}`,
		`{"jwks":{"keys":[]},"contacts":["a"],"client_uri":"https://x"}`, `{"scope":7}`, `{"jwks":null}`,
		`{"software_statement":"a.b.c","client_id":"cli_1"}`,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, body []byte) {
		members, err := decodeRegistration(body)
		if err != nil {
			return
		}
		req, err := parseRegistration(members)
		if err != nil {
			return
		}
		in, err := s.inputOf(req, false)
		if err == nil && (len(in.GrantTypes) == 0 || in.Name == "" || len(in.Metadata) == 0) {
			t.Fatalf("accepted input without defaults: %+v", in)
		}
	})
}
