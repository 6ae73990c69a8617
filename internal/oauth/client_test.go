package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestMatchRedirectURI(t *testing.T) {
	public := &auth.Client{Public: true, RedirectURIs: []string{
		"http://127.0.0.1/cb", "http://[::1]:8080/cb?x=1", "http://localhost/cb", "com.example.app:/cb", "https://app.example.com/cb",
	}}
	confidential := &auth.Client{RedirectURIs: []string{"http://127.0.0.1/cb", "https://app.example.com/cb"}}
	for _, tc := range []struct {
		c    *auth.Client
		uri  string
		want bool
	}{
		{public, "https://app.example.com/cb", true},
		{public, "com.example.app:/cb", true},
		{public, "http://127.0.0.1/cb", true},
		{public, "http://127.0.0.1:53000/cb", true},
		{public, "http://127.0.0.1:1/cb", true},
		{public, "http://[::1]/cb?x=1", true},
		{public, "http://[::1]:9/cb?x=1", true},
		{public, "http://localhost:8080/cb", false}, // no port freedom for localhost
		{public, "http://127.0.0.1:99999/cb", false},
		{public, "http://127.0.0.1:08080/cb", false},
		{public, "http://127.0.0.1:/cb", false},
		{public, "http://127.0.0.1.evil.com/cb", false},
		{public, "http://127.0.0.1@evil.com/cb", false},
		{public, "http://127.0.0.1:80@evil.com/cb", false},
		{public, "http://127.0.0.1:8080/cb/extra", false},
		{public, "http://127.0.0.1:8080/CB", false},
		{public, "https://app.example.com/cb/", false},
		{public, "https://app.example.com/cb?x", false},
		{public, "https://APP.example.com/cb", false},
		{public, "https://app.example.com/cb#f", false},
		{public, "", false},
		{confidential, "http://127.0.0.1/cb", true},
		{confidential, "http://127.0.0.1:8080/cb", false}, // the exception is for native (public) clients
	} {
		if got := MatchRedirectURI(tc.c, tc.uri); got != tc.want {
			t.Errorf("MatchRedirectURI(public=%v, %q) = %v, want %v", tc.c.Public, tc.uri, got, tc.want)
		}
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://127.0.0.1.evil/cb", "https://app.example.com/cb"} {
		f.Add("http://127.0.0.1/cb", s)
	}
	f.Fuzz(func(t *testing.T, registered, uri string) {
		c := &auth.Client{Public: true, RedirectURIs: []string{registered}}
		if !MatchRedirectURI(c, uri) || registered == uri {
			return
		}
		// A match of different strings happens only between loopback
		// literals whose host and path are the same.
		a, okA := stripLoopbackPort(registered)
		b, okB := stripLoopbackPort(uri)
		if !okA || !okB || a != b {
			t.Fatalf("%q matched %q", uri, registered)
		}
		u, err := url.Parse(uri)
		if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "::1") || u.User != nil {
			t.Fatalf("%q matched %q but is not a loopback URI", uri, registered)
		}
	})
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"read", []string{"read"}, true},
		{"write read read", []string{"read", "write"}, true},
		{"a:b https://x/y !#$", []string{"!#$", "a:b", "https://x/y"}, true},
		{"read  write", nil, false},
		{" read", nil, false},
		{"read ", nil, false},
		{"re\"ad", nil, false},
		{`re\ad`, nil, false},
		{"réad", nil, false},
		{"read\twrite", nil, false},
		{strings.Repeat("a ", auth.MaxScopeStringTokens) + "b", nil, false},
		{strings.Repeat("a", auth.MaxScopeStringLength+1), nil, false},
	} {
		got, err := parseScope(tc.in)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseScope(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidScope {
				t.Errorf("parseScope(%q): error %v is not invalid_scope", tc.in, err)
			}
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid profile", "a  b", "x\"y", "read write read"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseScope(in)
		if err != nil {
			return
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("%q: not sorted and unique: %q", in, got)
		}
		for _, s := range got {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				t.Fatalf("%q: bad token %q", in, s)
			}
		}
		// Parsing the canonical form gives it back.
		again, err := parseScope(strings.Join(got, " "))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q: canonical form does not parse back", in)
		}
	})
}

func TestResolveAudiences(t *testing.T) {
	s := &Server{issuer: "https://auth.example.com"}
	c := &auth.Client{Audiences: []string{"https://api.example.com", "urn:example:billing"}}
	for _, tc := range []struct {
		c    *auth.Client
		in   []string
		want []string
		ok   bool
	}{
		{c, nil, []string{"https://api.example.com"}, true},
		{c, []string{"urn:example:billing"}, []string{"urn:example:billing"}, true},
		{c, []string{"urn:example:billing", "https://api.example.com", "urn:example:billing"}, []string{"urn:example:billing", "https://api.example.com"}, true},
		{c, []string{"https://evil.example.com"}, nil, false},
		{c, []string{"https://api.example.com#frag"}, nil, false},
		{c, []string{"/relative"}, nil, false},
		{&auth.Client{}, nil, []string{"https://auth.example.com"}, true},
		{&auth.Client{}, []string{"https://auth.example.com"}, []string{"https://auth.example.com"}, true},
		{&auth.Client{}, []string{"https://api.example.com"}, nil, false},
	} {
		got, err := s.resolveAudiences(tc.c, tc.in)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("resolveAudiences(%v, %q) = %q, %v", tc.c.Audiences, tc.in, got, err)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidTarget {
				t.Errorf("error %v is not invalid_target", err)
			}
		}
	}
}

func jwksOf(t *testing.T, keys ...any) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: "k", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientValidation(t *testing.T) {
	ts := newTestServer(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	base := func(mod func(*ClientInput)) ClientInput {
		in := ClientInput{Name: "app", RedirectURIs: []string{"https://app.example.com/cb"}}
		mod(&in)
		return in
	}
	bad := map[string]ClientInput{
		"no name":                      base(func(in *ClientInput) { in.Name = "  " }),
		"control character in name":    base(func(in *ClientInput) { in.Name = "a\x00b" }),
		"long name":                    base(func(in *ClientInput) { in.Name = strings.Repeat("n", 201) }),
		"unknown method":               base(func(in *ClientInput) { in.AuthMethod = "tls_client_auth" }),
		"confidential with none":       base(func(in *ClientInput) { in.AuthMethod = "none" }),
		"public with a secret method":  base(func(in *ClientInput) { in.Public, in.AuthMethod = true, "client_secret_basic" }),
		"private_key_jwt without JWKS": base(func(in *ClientInput) { in.AuthMethod = "private_key_jwt" }),
		"JWKS without private_key_jwt": base(func(in *ClientInput) { in.JWKS = jwksOf(t, &ec.PublicKey) }),
		"private key in JWKS":          base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, ec) }),
		"symmetric key in JWKS": base(func(in *ClientInput) {
			in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, []byte("0123456789abcdef0123456789abcdef"))
		}),
		"P-384 key":                      base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, &p384.PublicKey) }),
		"1024-bit RSA key":               base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, &smallRSA.PublicKey) }),
		"JWKS not JSON":                  base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", []byte("nope") }),
		"empty JWKS":                     base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", []byte(`{"keys":[]}`) }),
		"relative redirect":              base(func(in *ClientInput) { in.RedirectURIs = []string{"/cb"} }),
		"redirect with fragment":         base(func(in *ClientInput) { in.RedirectURIs = []string{"https://app.example.com/cb#x"} }),
		"wildcard redirect":              base(func(in *ClientInput) { in.RedirectURIs = []string{"https://*.example.com/cb"} }),
		"http redirect off loopback":     base(func(in *ClientInput) { in.RedirectURIs = []string{"http://app.example.com/cb"} }),
		"userinfo in redirect":           base(func(in *ClientInput) { in.RedirectURIs = []string{"https://user@app.example.com/cb"} }),
		"custom scheme for confidential": base(func(in *ClientInput) { in.RedirectURIs = []string{"com.example.app:/cb"} }),
		"javascript scheme":              base(func(in *ClientInput) { in.Public, in.RedirectURIs = true, []string{"javascript:alert(1)"} }),
		"space in redirect":              base(func(in *ClientInput) { in.RedirectURIs = []string{"https://app.example.com/c b"} }),
		"too many redirects": base(func(in *ClientInput) {
			for i := range 21 {
				in.RedirectURIs = append(in.RedirectURIs, "https://app.example.com/"+strings.Repeat("x", i+1))
			}
		}),
		"unknown grant": base(func(in *ClientInput) { in.GrantTypes = []string{"password"} }),
		"public client credentials": base(func(in *ClientInput) {
			in.Public, in.GrantTypes = true, []string{"authorization_code", "client_credentials"}
		}),
		"code without redirect":              {Name: "x", GrantTypes: []string{"authorization_code"}},
		"refresh without code":               {Name: "x", GrantTypes: []string{"client_credentials", "refresh_token"}},
		"redirects without code":             base(func(in *ClientInput) { in.GrantTypes = []string{"client_credentials"} }),
		"public without redirects":           {Name: "x", Public: true},
		"bad scope":                          base(func(in *ClientInput) { in.Scopes = []string{"a b"} }),
		"empty scope":                        base(func(in *ClientInput) { in.Scopes = []string{""} }),
		"relative audience":                  base(func(in *ClientInput) { in.Audiences = []string{"api"} }),
		"audience with fragment":             base(func(in *ClientInput) { in.Audiences = []string{"https://api.example.com#x"} }),
		"access TTL too short":               base(func(in *ClientInput) { in.AccessTokenTTL = time.Second }),
		"access TTL too long":                base(func(in *ClientInput) { in.AccessTokenTTL = 25 * time.Hour }),
		"refresh TTL over a year":            base(func(in *ClientInput) { in.RefreshTokenTTL = 366 * 24 * time.Hour }),
		"absolute shorter than idle refresh": base(func(in *ClientInput) { in.RefreshTokenTTL, in.RefreshTokenMaxTTL = 48*time.Hour, 24*time.Hour }),
		"negative TTL":                       base(func(in *ClientInput) { in.AccessTokenTTL = -time.Minute }),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := ts.CreateClient(context.Background(), "test", in)
			if auth.ErrorCode(err) != auth.EINVALID {
				t.Fatalf("err %v, want EINVALID", err)
			}
		})
	}
	good := map[string]ClientInput{
		"loopback http": base(func(in *ClientInput) {
			in.RedirectURIs = []string{"http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost:3000/cb"}
		}),
		"native custom scheme":      base(func(in *ClientInput) { in.Public, in.RedirectURIs = true, []string{"com.example.app:/oauth2redirect"} }),
		"Ed25519 and P-256 JWKS":    base(func(in *ClientInput) { in.AuthMethod, in.JWKS = "private_key_jwt", jwksOf(t, edPub, &ec.PublicKey) }),
		"client credentials only":   {Name: "svc", GrantTypes: []string{"client_credentials"}, Audiences: []string{"https://api.example.com", "urn:x:y"}},
		"defaults for a web client": base(func(in *ClientInput) {}),
	}
	for name, in := range good {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ts.CreateClient(context.Background(), "test", in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClientLifecycle(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	c, secret, err := ts.CreateClient(ctx, "adm_1", ClientInput{Name: " svc ", Scopes: []string{"write", "read", "read"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, ClientIDPrefix) || len(c.ID) != 20 || c.Name != "svc" || c.AuthMethod != auth.AuthMethodSecretBasic ||
		!slices.Equal(c.GrantTypes, []string{"client_credentials"}) || !slices.Equal(c.Scopes, []string{"read", "write"}) ||
		!strings.HasPrefix(secret, PrefixClientSecret) || c.SecretHint != secret[len(secret)-4:] {
		t.Fatalf("client %+v secret %q", c, secret)
	}
	stored, err := ts.GetClient(ctx, c.ID)
	if err != nil || strings.Contains(string(stored.SecretHash), secret) || len(stored.SecretHash) != 32 {
		t.Fatalf("stored %+v %v", stored, err)
	}
	token := func(secret string) *http.Response {
		return ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	}
	decode(t, token(secret), http.StatusOK) // caches the client

	_, newSecret, err := ts.RotateClientSecret(ctx, "adm_1", c.ID)
	if err != nil || newSecret == secret {
		t.Fatalf("rotate: %v", err)
	}
	// The cache of this node is invalidated at once.
	wantError(t, token(secret), http.StatusUnauthorized, CodeInvalidClient)
	decode(t, token(newSecret), http.StatusOK)

	up, err := ts.UpdateClient(ctx, "adm_1", c.ID, ClientInput{Name: "svc2", AuthMethod: auth.AuthMethodSecretPost, Scopes: []string{"read"}})
	if err != nil || up.Name != "svc2" || up.CreatedAt != c.CreatedAt {
		t.Fatalf("update: %+v %v", up, err)
	}
	wantError(t, token(newSecret), http.StatusUnauthorized, CodeInvalidClient) // now must use post
	decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {newSecret}}), http.StatusOK)

	if _, err := ts.UpdateClient(ctx, "adm_1", c.ID, ClientInput{Name: "x", Public: true, RedirectURIs: []string{"https://a.example.com/cb"}}); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("switch to public: %v", err)
	}
	list, _, err := ts.ListClients(ctx, auth.ClientFilter{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if ok, err := ts.ClientExists(ctx, c.ID); !ok || err != nil {
		t.Fatalf("ClientExists before delete = %v, %v", ok, err)
	}
	if err := ts.DeleteClient(ctx, "adm_1", c.ID); err != nil {
		t.Fatal(err)
	}
	// The gateway's check: a deleted client's tokens are refused at once on this node.
	for _, id := range []string{c.ID, "../etc", ""} {
		if ok, err := ts.ClientExists(ctx, id); ok || err != nil {
			t.Errorf("ClientExists(%q) after delete = %v, %v", id, ok, err)
		}
	}
	wantError(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {newSecret}}), http.StatusUnauthorized, CodeInvalidClient)
	for _, err := range []error{
		ts.DeleteClient(ctx, "adm_1", c.ID),
		func() error { _, err := ts.GetClient(ctx, c.ID); return err }(),
		func() error { _, err := ts.GetClient(ctx, "../etc"); return err }(),
		func() error { _, _, err := ts.RotateClientSecret(ctx, "adm_1", c.ID); return err }(),
	} {
		if auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Errorf("after delete: %v, want ENOTFOUND", err)
		}
	}
	events, _, err := ts.Store.ListAuditEvents(ctx, auth.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		if strings.HasPrefix(e.Type, "client.") {
			types = append(types, e.Type)
			if e.Actor != "adm_1" || e.KeyID != c.ID {
				t.Errorf("event %+v", e)
			}
		}
	}
	want := []string{auth.EventClientCreated, auth.EventClientSecretRotated, auth.EventClientUpdated, auth.EventClientDeleted}
	if !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
	// Rotation is refused for clients without a secret.
	jc := ts.jwtClient(t)
	if _, _, err := ts.RotateClientSecret(ctx, "adm_1", jc.ID); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("rotate private_key_jwt client: %v", err)
	}
}

// pausingStore holds GetClient between its read and its return while armed,
// so a test can change the client in that gap.
type pausingStore struct {
	auth.OAuthStore
	armed   chan struct{} // receives once per paused read
	read    chan struct{} // closed when the armed read has its result
	release chan struct{} // closed to let it return
}

func (p *pausingStore) GetClient(ctx context.Context, id string) (*auth.Client, error) {
	c, err := p.OAuthStore.GetClient(ctx, id)
	select {
	case <-p.armed:
		close(p.read)
		<-p.release
	default:
	}
	return c, err
}

func TestClientCacheIgnoresReadsOlderThanAnInvalidation(t *testing.T) {
	// A lookup that read the client before a rotation and returns after it
	// must not put the old client (and so the old secret) back in the
	// cache: a rotated secret stops working on this node at once.
	ts := newTestServer(t)
	ctx := context.Background()
	c, oldSecret, err := ts.CreateClient(ctx, "adm_1", ClientInput{Name: "svc", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := &pausingStore{OAuthStore: ts.Store, armed: make(chan struct{}, 1), read: make(chan struct{}), release: make(chan struct{})}
	ts.store = ps
	ps.armed <- struct{}{}
	done := make(chan error)
	go func() {
		_, err := ts.lookupClient(ctx, c.ID)
		done <- err
	}()
	<-ps.read
	if _, _, err := ts.RotateClientSecret(ctx, "adm_1", c.ID); err != nil {
		t.Fatal(err)
	}
	close(ps.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantError(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, oldSecret), http.StatusUnauthorized, CodeInvalidClient)
}

func TestDeletedClientMidFlow(t *testing.T) {
	// Deleting a client ends what it holds at once (docs/oauth.md): its
	// unredeemed code, its refresh tokens and its access tokens.
	ts := newTestServer(t)
	ctx := context.Background()
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	m := ts.signIn(t, c, secret, u)
	cc := decode(t, ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, c.ID, secret), http.StatusOK)
	code, verifier, _ := ts.issueCode(c, u, codeOpts{scopes: []string{"openid"}})

	// Cached on this node by the requests above.
	if err := ts.DeleteClient(ctx, "adm_1", c.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, ts.post(PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {c.RedirectURIs[0]}}, c.ID, secret), http.StatusUnauthorized, CodeInvalidClient)
	wantError(t, ts.refresh(c, secret, m["refresh_token"].(string), nil), http.StatusUnauthorized, CodeInvalidClient)
	for name, tok := range map[string]string{"user access token": m["access_token"].(string), "client credentials token": cc["access_token"].(string)} {
		if introspectActive(t, ts, other, otherSecret, tok) {
			t.Errorf("%s of a deleted client is active", name)
		}
	}
	if got := decode(t, ts.post(PathIntrospect, url.Values{"token": {m["refresh_token"].(string)}}, other.ID, otherSecret), http.StatusOK); got["active"] != false {
		t.Errorf("refresh token of a deleted client: %v", got)
	}
	if _, err := ts.Store.GetRefreshToken(ctx, mustHash(t, ts, PrefixRefreshToken, m["refresh_token"].(string))); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("refresh token kept after the client was deleted: %v", err)
	}
}

func mustHash(t *testing.T, ts *testServer, prefix, secret string) []byte {
	t.Helper()
	h, ok := ts.parseSecret(prefix, secret)
	if !ok {
		t.Fatalf("%q is not a well-formed secret", secret)
	}
	return h
}
