package oauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
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

func TestClientChangesReachTheTokenEndpointAtOnce(t *testing.T) {
	// The token endpoint looks clients up in the registry's cache; every
	// change through the registry of this node is seen by the next request.
	ts := newTestServer(t)
	ctx := context.Background()
	c, secret, err := ts.Clients.Create(ctx, "adm_1", client.Input{Name: "svc", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, PrefixClientSecret) {
		t.Fatalf("secret %q", secret)
	}
	token := func(secret string) *http.Response {
		return ts.post(PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	}
	decode(t, token(secret), http.StatusOK) // caches the client

	_, newSecret, err := ts.Clients.RotateSecret(ctx, "adm_1", c.ID)
	if err != nil || newSecret == secret {
		t.Fatalf("rotate: %v", err)
	}
	wantError(t, token(secret), http.StatusUnauthorized, CodeInvalidClient)
	decode(t, token(newSecret), http.StatusOK)

	if _, err := ts.Clients.Update(ctx, "adm_1", c.ID, client.Input{Name: "svc2", AuthMethod: auth.AuthMethodSecretPost, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, token(newSecret), http.StatusUnauthorized, CodeInvalidClient) // now must use post
	post := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {newSecret}}
	decode(t, ts.post(PathToken, post), http.StatusOK)

	if err := ts.Clients.Delete(ctx, "adm_1", c.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, ts.post(PathToken, post), http.StatusUnauthorized, CodeInvalidClient)
}

func TestNewRequiresClients(t *testing.T) {
	ts := newTestServer(t)
	cfg := ts.cfg
	cfg.Clients = nil
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a Config without a client registry")
	}
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
	if err := ts.Clients.Delete(ctx, "adm_1", c.ID); err != nil {
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
