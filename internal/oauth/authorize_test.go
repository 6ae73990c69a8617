package oauth

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// An authorization request whose client or redirect URI is not exactly
// right is answered with the error page and never redirected anywhere.
func TestAuthorizeRefusesUnknownClientOrRedirectURI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic) // https://app.example.com/cb
	b := newBrowser(t, ts)
	cases := map[string]url.Values{
		"missing client_id":   authParams(c, "client_id", ""),
		"unknown client_id":   authParams(c, "client_id", "cli_unknown0000000000"),
		"malformed client_id": authParams(c, "client_id", "../../etc"),
		"missing redirect":    authParams(c, "redirect_uri", ""),
		"extra path":          authParams(c, "redirect_uri", "https://app.example.com/cb/extra"),
		"extra query":         authParams(c, "redirect_uri", "https://app.example.com/cb?next=x"),
		"other port":          authParams(c, "redirect_uri", "https://app.example.com:8443/cb"),
		"host case change":    authParams(c, "redirect_uri", "https://APP.example.com/cb"),
		"path case change":    authParams(c, "redirect_uri", "https://app.example.com/CB"),
		"userinfo trick":      authParams(c, "redirect_uri", "https://app.example.com@evil.example/cb"),
		"trailing slash":      authParams(c, "redirect_uri", "https://app.example.com/cb/"),
		"fragment":            authParams(c, "redirect_uri", "https://app.example.com/cb#frag"),
		"http scheme":         authParams(c, "redirect_uri", "http://app.example.com/cb"),
		"other host":          authParams(c, "redirect_uri", "https://evil.example/cb"),
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			wantErrorPage(t, b.get(ts.authorizeURL(q)), http.StatusBadRequest)
		})
	}
	t.Run("duplicate redirect_uri", func(t *testing.T) {
		raw := authParams(c).Encode() + "&redirect_uri=" + url.QueryEscape(c.RedirectURIs[0])
		wantErrorPage(t, b.get(ts.URL+PathAuthorize+"?"+raw), http.StatusBadRequest)
	})
	t.Run("duplicate client_id", func(t *testing.T) {
		raw := authParams(c).Encode() + "&client_id=" + c.ID
		wantErrorPage(t, b.get(ts.URL+PathAuthorize+"?"+raw), http.StatusBadRequest)
	})
	t.Run("oversized request", func(t *testing.T) {
		q := authParams(c, "state", strings.Repeat("s", maxAuthorizeRequest))
		wantErrorPage(t, b.get(ts.authorizeURL(q)), http.StatusBadRequest)
	})
	t.Run("method", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, ts.authorizeURL(authParams(c)), nil)
		if p := b.do(req); p.StatusCode != http.StatusMethodNotAllowed || p.Header.Get("Location") != "" {
			t.Fatalf("PUT: %d", p.StatusCode)
		}
	})
}

// RFC 8252 7.3: a public client's loopback redirect URI matches on any
// port; localhost gets no such exception.
func TestAuthorizeLoopbackRedirect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.mustClient(client.Input{
		Public:       true,
		RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/callback", "http://localhost:5000/callback"},
		Scopes:       []string{"openid"},
	})
	b := newBrowser(t, ts)
	for _, uri := range []string{"http://127.0.0.1:51234/callback", "http://127.0.0.1/callback", "http://[::1]:8080/callback"} {
		p := b.get(ts.authorizeURL(authParams(c, "redirect_uri", uri, "scope", "openid")))
		if loc := p.location(t); loc.Path != PathLogin || loc.Query().Get("redirect_uri") != uri {
			t.Errorf("%s: redirected to %s, want the login page", uri, loc)
		}
	}
	for _, uri := range []string{"http://localhost:5001/callback", "http://127.0.0.1:5000/other", "https://127.0.0.1:5000/callback"} {
		wantErrorPage(t, b.get(ts.authorizeURL(authParams(c, "redirect_uri", uri, "scope", "openid"))), http.StatusBadRequest)
	}
}

// Once the client and redirect URI are valid, errors go back to the
// client with the state and the issuer.
func TestAuthorizeRedirectsErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	b := newBrowser(t, ts)
	cases := []struct {
		name string
		q    url.Values
		code string
	}{
		{"implicit token", authParams(c, "response_type", "token"), CodeUnsupportedResponseType},
		{"id_token", authParams(c, "response_type", "id_token"), CodeUnsupportedResponseType},
		{"hybrid", authParams(c, "response_type", "code id_token"), CodeUnsupportedResponseType},
		{"no response_type", authParams(c, "response_type", ""), CodeInvalidRequest},
		{"no PKCE", authParams(c, "code_challenge", "", "code_challenge_method", ""), CodeInvalidRequest},
		{"plain PKCE", authParams(c, "code_challenge_method", "plain"), CodeInvalidRequest},
		{"PKCE without method", authParams(c, "code_challenge_method", ""), CodeInvalidRequest},
		{"short challenge", authParams(c, "code_challenge", "abc"), CodeInvalidRequest},
		{"challenge alphabet", authParams(c, "code_challenge", strings.Repeat("+", 43)), CodeInvalidRequest},
		{"unknown scope", authParams(c, "scope", "openid admin"), CodeInvalidScope},
		{"bad scope syntax", authParams(c, "scope", "openid\"x"), CodeInvalidScope},
		{"foreign resource", authParams(c, "resource", "https://evil.example"), CodeInvalidTarget},
		{"relative resource", authParams(c, "resource", "/api"), CodeInvalidTarget},
		// A request object or request_uri that does not hold stands for
		// the redirect URI too: its errors are pages, never redirects
		// (TestRequestObjectAttacks, TestPARAttacks).
		{"response_mode fragment", authParams(c, "response_mode", "fragment"), CodeInvalidRequest},
		{"prompt none with login", authParams(c, "prompt", "none login"), CodeInvalidRequest},
		{"unknown prompt", authParams(c, "prompt", "create"), CodeInvalidRequest},
		{"negative max_age", authParams(c, "max_age", "-1"), CodeInvalidRequest},
		{"huge max_age", authParams(c, "max_age", "99999999999"), CodeInvalidRequest},
		{"long nonce", authParams(c, "nonce", strings.Repeat("n", maxNonceLength+1)), CodeInvalidRequest},
		// A nonce that cannot be stored with the code, or echoed intact in
		// the ID token, is refused here rather than failing as a
		// server_error once the user has signed in and consented.
		{"nonce with a NUL", authParams(c, "nonce", "n\x00"), CodeInvalidRequest},
		{"nonce not UTF-8", authParams(c, "nonce", "n\xff"), CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRedirectError(t, b.get(ts.authorizeURL(tc.q)), c.RedirectURIs[0], "st-123", tc.code)
		})
	}
	t.Run("duplicate scope", func(t *testing.T) {
		raw := authParams(c).Encode() + "&scope=openid"
		wantRedirectError(t, b.get(ts.URL+PathAuthorize+"?"+raw), c.RedirectURIs[0], "st-123", CodeInvalidRequest)
	})
	t.Run("client without the code grant", func(t *testing.T) {
		// The registry refuses such a client; one stored directly (an older
		// or hand-edited record) is still refused here.
		now := ts.Clock.Now()
		cc := &auth.Client{ID: "cli_nocodegrant", Name: "cc", AuthMethod: auth.AuthMethodSecretBasic, SecretHash: make([]byte, 32),
			RedirectURIs: []string{"https://cc.example.com/cb"}, GrantTypes: []string{auth.GrantClientCredentials},
			Scopes: []string{"read"}, CreatedAt: now, UpdatedAt: now, SecretRotatedAt: now}
		if err := ts.Store.CreateClient(t.Context(), cc); err != nil {
			t.Fatal(err)
		}
		wantRedirectError(t, b.get(ts.authorizeURL(authParams(cc, "scope", "read"))), "https://cc.example.com/cb", "st-123", CodeUnauthorizedClient)
	})
	t.Run("redirect keeps the registered query", func(t *testing.T) {
		qc, _ := ts.mustClient(client.Input{RedirectURIs: []string{"https://q.example.com/cb?tenant=7"}, Scopes: []string{"openid"}})
		p := b.get(ts.authorizeURL(authParams(qc, "response_type", "token")))
		loc := p.location(t)
		if loc.Query().Get("tenant") != "7" || loc.Query().Get("error") != CodeUnsupportedResponseType {
			t.Fatalf("redirected to %s", loc)
		}
	})
}

func TestAuthorizePrompt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	b := newBrowser(t, ts)

	// prompt=none without a session: login_required, no login page.
	wantRedirectError(t, b.get(ts.authorizeURL(authParams(c, "prompt", "none"))), c.RedirectURIs[0], "st-123", CodeLoginRequired)

	// Sign in but do not consent yet: prompt=none asks for consent.
	consent := b.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	if !strings.Contains(consent.body, `value="allow"`) {
		t.Fatalf("no consent page: %s", consent.body)
	}
	wantRedirectError(t, b.get(ts.authorizeURL(authParams(c, "prompt", "none"))), c.RedirectURIs[0], "st-123", CodeConsentRequired)
	b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st-123")

	// Signed in and consented: prompt=none gets a code silently.
	b.codeFrom(b.get(ts.authorizeURL(authParams(c, "prompt", "none"))), c.RedirectURIs[0], "st-123")

	// prompt=consent shows the page again.
	if p := b.get(ts.authorizeURL(authParams(c, "prompt", "consent"))); p.StatusCode != http.StatusOK || !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("prompt=consent: %d", p.StatusCode)
	}
	// A scope beyond the remembered consent shows it too.
	if p := b.get(ts.authorizeURL(authParams(c, "scope", "openid profile email"))); p.StatusCode != http.StatusOK {
		t.Fatalf("new scope: %d", p.StatusCode)
	}

	// prompt=login forces a new sign-in, which then completes without a
	// loop back to the login page.
	p := b.get(ts.authorizeURL(authParams(c, "prompt", "login")))
	if p.location(t).Path != PathLogin {
		t.Fatal("prompt=login did not ask to sign in")
	}
	b.codeFrom(b.login(ts.authorizeURL(authParams(c, "prompt", "login")), "alice", testPassword), c.RedirectURIs[0], "st-123")

	// max_age: a sign-in older than max_age must be repeated.
	ts.Clock.Add(10 * time.Minute)
	b.codeFrom(b.get(ts.authorizeURL(authParams(c, "max_age", "3600"))), c.RedirectURIs[0], "st-123")
	if p := b.get(ts.authorizeURL(authParams(c, "max_age", "60"))); p.location(t).Path != PathLogin {
		t.Fatal("max_age=60 after 10 minutes did not ask to sign in")
	}
	wantRedirectError(t, b.get(ts.authorizeURL(authParams(c, "max_age", "60", "prompt", "none"))), c.RedirectURIs[0], "st-123", CodeLoginRequired)
	b.codeFrom(b.login(ts.authorizeURL(authParams(c, "max_age", "0")), "alice", testPassword), c.RedirectURIs[0], "st-123")
}

// OIDC Core 3.1.2.1: the authorization endpoint also takes POST.
func TestAuthorizePost(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	b := newBrowser(t, ts)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+PathAuthorize, strings.NewReader(authParams(c).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if loc := b.do(req).location(t); loc.Path != PathLogin {
		t.Fatalf("POST authorize redirected to %s", loc)
	}
	req, _ = http.NewRequest(http.MethodPost, ts.URL+PathAuthorize, strings.NewReader(authParams(c).Encode()))
	req.Header.Set("Content-Type", "text/plain")
	wantErrorPage(t, b.do(req), http.StatusBadRequest)
}

// The code carries what the token side needs, and a disabled user's
// session no longer authorizes anything.
func TestAuthorizeCodeContents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	u := ts.mustUser("alice")
	b := newBrowser(t, ts)
	verifier := newVerifier()
	q := authParams(c, "code_challenge", s256(verifier), "nonce", "n1", "scope", "openid read")
	q.Add("resource", "https://api.example.com")
	q.Add("resource", "https://other.example.com")
	consent := b.login(ts.authorizeURL(q), "alice", testPassword)
	code := b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "st-123")
	hash, ok := ts.parseSecret(PrefixAuthCode, code)
	if !ok {
		t.Fatal("code is not a well-formed secret")
	}
	ac, err := ts.Store.ConsumeAuthCode(t.Context(), hash, ts.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ac.UserID != u.ID || ac.ClientID != c.ID || ac.Nonce != "n1" || ac.CodeChallenge != s256(verifier) ||
		strings.Join(ac.Scopes, " ") != "openid read" || len(ac.Audiences) != 2 || ac.RedirectURI != c.RedirectURIs[0] ||
		!strings.HasPrefix(ac.FamilyID, "fam_") || ac.SessionID == "" || ac.AuthTime.IsZero() ||
		!ac.ExpiresAt.Equal(ts.Clock.Now().Add(DefaultAuthCodeTTL)) {
		t.Fatalf("code %+v", ac)
	}

	if _, err := ts.Accounts.Disable(t.Context(), "admin", u.ID); err != nil {
		t.Fatal(err)
	}
	if p := b.get(ts.authorizeURL(authParams(c))); p.location(t).Path != PathLogin {
		t.Fatal("a disabled user's session still authorizes")
	}
}

func FuzzAuthorizeRequest(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "g.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	hasher, err := secret.NewHasher(make([]byte, secret.MinServerSecretLength))
	if err != nil {
		f.Fatal(err)
	}
	clock := func() time.Time { return now }
	clients, err := client.New(client.Config{Store: db, Hasher: hasher, Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{issuer: "https://issuer.example", store: db, clients: clients, hasher: hasher, now: clock}
	c := &auth.Client{
		ID: "cli_fuzz", Name: "fuzz", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		GrantTypes:   []string{auth.GrantAuthorizationCode}, Scopes: []string{"openid", "read"},
		Audiences: []string{"https://api.example"}, CreatedAt: now, UpdatedAt: now,
	}
	// Stored directly (the registry would pick its own ID); the registry's
	// clock stands still, so after the first lookup it answers from its cache.
	if err := db.CreateClient(context.Background(), c); err != nil {
		f.Fatal(err)
	}
	f.Add(authParams(c).Encode())
	f.Add(authParams(c, "redirect_uri", "http://127.0.0.1:9999/cb", "prompt", "none", "max_age", "0", "resource", "https://api.example").Encode())
	f.Add("client_id=cli_fuzz&client_id=cli_fuzz&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")
	f.Add("client_id=cli_fuzz&redirect_uri=https://app.example/cb&response_type=token&state=%00")
	f.Add("%zz&;;==&")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseAuthorizeValues(raw)
		if err != nil {
			return
		}
		req, err := s.parseAuthorize(t.Context(), q)
		if req == nil {
			if err == nil {
				t.Fatal("no request and no error")
			}
			return
		}
		// Anything that may be redirected has a registered redirect URI.
		if !MatchRedirectURI(c, req.redirectURI) {
			t.Fatalf("redirect URI %q accepted", req.redirectURI)
		}
		if err != nil {
			return
		}
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || !validChallenge(req.challenge) {
			t.Fatalf("accepted %q", raw)
		}
		// The pending request survives the trip through the forms.
		q2, err := parseAuthorizeValues(req.encode())
		if err != nil {
			t.Fatal(err)
		}
		req2, err := s.parseAuthorize(t.Context(), q2)
		if err != nil || req2.encode() != req.encode() {
			t.Fatalf("re-parsed request differs: %v", err)
		}
	})
}
