package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// push sends a pushed authorization request and returns the response.
func (ts *testServer) push(form url.Values, basic ...string) *http.Response {
	ts.t.Helper()
	return ts.post(PathPAR, form, basic...)
}

// mustPush pushes a request for a client_secret_basic client and returns
// its request_uri.
func (ts *testServer) mustPush(t *testing.T, c *auth.Client, secret string, form url.Values) string {
	t.Helper()
	resp := ts.push(form, c.ID, secret)
	m := decode(t, resp, http.StatusCreated)
	uri, _ := m["request_uri"].(string)
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || m["expires_in"] != float64(60) {
		t.Fatalf("PAR response %v", m)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return uri
}

// parRequest is a pushed request's parameters and the PKCE verifier.
func parRequest(c *auth.Client, extra ...string) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	q := authParams(c, append([]string{"code_challenge", oauth2.S256ChallengeFromVerifier(verifier), "state", "pushed-state", "scope", "openid read"}, extra...)...)
	return q, verifier
}

// requestURIAt is the authorization URL x/oauth2 builds with a request_uri
// (RFC 9126 4): its own response_type, client_id and state go along and
// must be ignored.
func requestURIAt(conf *oauth2.Config, uri string, state string) string {
	return conf.AuthCodeURL(state, oauth2.SetAuthURLParam("request_uri", uri))
}

// signInOn submits a login page as alice.
func (b *browser) signInOn(lp *page) *page {
	b.t.Helper()
	return b.submit(lp, url.Values{"username": {"alice"}, "password": {testPassword}})
}

// signInAndAllow follows an authorization URL through login and consent
// and returns the page that ends them.
func (b *browser) signInAndAllow(authURL string) *page {
	b.t.Helper()
	return b.allow(b.login(authURL, "alice", testPassword))
}

// allow answers a consent page, if p is one (consent may be remembered).
func (b *browser) allow(p *page) *page {
	b.t.Helper()
	if p.StatusCode != http.StatusOK {
		return p
	}
	return b.submit(p, url.Values{"decision": {"allow"}})
}

// TestPARWithRealClient pushes a request, signs in through the request_uri
// (built by golang.org/x/oauth2, which adds its own parameters), and
// redeems the code with x/oauth2: the pushed parameters are the ones that
// count, whatever the authorization URL says besides.
func TestPARWithRealClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	q, verifier := parRequest(c)
	uri := ts.mustPush(t, c, secret, q)

	// The URL says scope write, another state and a redirect URI of its
	// own: all ignored (RFC 9126 4).
	conf := ts.oauth2Config(c, secret, "write")
	conf.RedirectURL = "https://evil.example/cb"
	b := newBrowser(t, ts)
	authURL := requestURIAt(conf, uri, "url-state")
	p := b.get(authURL)
	login := p.location(t)
	if login.Path != PathLogin || login.Query().Get("request_uri") != uri || login.Query().Get("scope") != "" {
		t.Fatalf("authorize sent the browser to %s; want the login page carrying the request_uri alone", login)
	}
	lp := b.get(p.Request.URL.ResolveReference(login).String())
	consent := b.signInOn(lp)
	if !strings.Contains(consent.body, `value="allow"`) || strings.Contains(consent.body, "write") {
		t.Fatalf("consent page (%d) does not show the pushed request:\n%s", consent.StatusCode, consent.body)
	}
	code := b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "pushed-state")

	conf.RedirectURL = c.RedirectURIs[0]
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if got := tok.Extra("scope"); got != "openid read" {
		t.Errorf("scope %v, want the pushed openid read", got)
	}

	t.Run("the request_uri is refused once used", func(t *testing.T) {
		p := b.get(authURL)
		wantErrorPage(t, p, http.StatusBadRequest)
		if !strings.Contains(p.body, "request_uri") {
			t.Errorf("error page does not name the request_uri:\n%s", p.body)
		}
	})
	t.Run("the consent form sent again gives no second code", func(t *testing.T) {
		wantErrorPage(t, b.submit(consent, url.Values{"decision": {"allow"}}), http.StatusBadRequest)
	})
}

// TestPARSignInTakesItsTime: once the authorization endpoint took the
// request_uri up, the user has longer than its 60 seconds to sign in.
func TestPARSignInTakesItsTime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	q, _ := parRequest(c)
	uri := ts.mustPush(t, c, secret, q)
	b := newBrowser(t, ts)
	lp := b.loginPage(ts.authorizeURL(url.Values{"client_id": {c.ID}, "request_uri": {uri}}))
	ts.Clock.Add(5 * time.Minute)
	consent := b.signInOn(lp)
	ts.Clock.Add(5 * time.Minute)
	b.codeFrom(b.submit(consent, url.Values{"decision": {"allow"}}), c.RedirectURIs[0], "pushed-state")
}

func TestPARAttacks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	other, otherSecret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	at := func(clientID, uri string, extra ...string) string {
		q := url.Values{"client_id": {clientID}, "request_uri": {uri}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return ts.authorizeURL(q)
	}

	t.Run("an expired request_uri is refused", func(t *testing.T) {
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		ts.Clock.Add(PushedRequestTTL)
		wantErrorPage(t, newBrowser(t, ts).get(at(c.ID, uri)), http.StatusBadRequest)
	})
	t.Run("a request_uri used a second time before sign-in is refused, and the first flow gets one code", func(t *testing.T) {
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		victim, attacker := newBrowser(t, ts), newBrowser(t, ts)
		p := victim.get(at(c.ID, uri))
		if loc := p.location(t); loc.Path != PathLogin {
			t.Fatalf("first use went to %s", loc)
		}
		wantErrorPage(t, attacker.get(at(c.ID, uri)), http.StatusBadRequest)
		lp := victim.get(p.Request.URL.ResolveReference(p.location(t)).String())
		victim.codeFrom(victim.allow(victim.signInOn(lp)), c.RedirectURIs[0], "pushed-state")
	})
	t.Run("the login form of a used request_uri gives no second code", func(t *testing.T) {
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		b := newBrowser(t, ts)
		lp := b.loginPage(at(c.ID, uri))
		b.codeFrom(b.allow(b.signInOn(lp)), c.RedirectURIs[0], "pushed-state")
		// The same login form, submitted again, and the login page
		// opened again in another browser.
		wantErrorPage(t, b.signInOn(lp), http.StatusBadRequest)
		wantErrorPage(t, newBrowser(t, ts).get(lp.Request.URL.String()), http.StatusBadRequest)
	})
	t.Run("a request_uri presented with another client_id is refused and stays the pusher's", func(t *testing.T) {
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		wantErrorPage(t, newBrowser(t, ts).get(at(other.ID, uri)), http.StatusBadRequest)
		p := newBrowser(t, ts).get(at(c.ID, uri))
		if loc := p.location(t); loc.Path != PathLogin {
			t.Fatalf("the pusher's own use went to %s", loc)
		}
	})
	t.Run("another client cannot push for a client", func(t *testing.T) {
		q, _ := parRequest(c)
		wantError(t, ts.push(q, other.ID, otherSecret), http.StatusUnauthorized, CodeInvalidClient)
	})
	t.Run("a forged or foreign request_uri is refused before the store", func(t *testing.T) {
		for _, uri := range []string{"urn:ietf:params:oauth:request_uri:abc", "https://evil.example/request.jwt", PrefixRequestURI + strings.Repeat("A", 38)} {
			wantErrorPage(t, newBrowser(t, ts).get(at(c.ID, uri)), http.StatusBadRequest)
		}
	})
	t.Run("request and request_uri together are refused", func(t *testing.T) {
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		wantErrorPage(t, newBrowser(t, ts).get(at(c.ID, uri, "request", "e30.e30.")), http.StatusBadRequest)
	})
	t.Run("a pushed request with an unregistered redirect URI is refused", func(t *testing.T) {
		q, _ := parRequest(c, "redirect_uri", "https://evil.example/cb")
		wantError(t, ts.push(q, c.ID, secret), http.StatusBadRequest, CodeInvalidRequest)
	})
	t.Run("a pushed request is validated as at the authorization endpoint", func(t *testing.T) {
		for name, extra := range map[string][]string{
			"scope not allowed":        {"scope", "admin"},
			"no PKCE":                  {"code_challenge", ""},
			"plain PKCE":               {"code_challenge_method", "plain"},
			"implicit flow":            {"response_type", "token"},
			"resource not allowed":     {"resource", "https://evil.example"},
			"a request_uri inside PAR": {"request_uri", PrefixRequestURI},
		} {
			q, _ := parRequest(c, extra...)
			resp := ts.push(q, c.ID, secret)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
			}
		}
	})
	t.Run("the pushed request endpoint authenticates the client", func(t *testing.T) {
		q, _ := parRequest(c)
		wantError(t, ts.push(q, c.ID, otherSecret), http.StatusUnauthorized, CodeInvalidClient)
		wantError(t, ts.push(q), http.StatusUnauthorized, CodeInvalidClient)
		resp, err := http.Get(ts.URL + PathPAR)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
}

// TestPARPublicClient: a public client pushes with its client_id alone.
func TestPARPublicClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.mustClient(client.Input{Public: true, RedirectURIs: []string{"https://spa.example.com/cb"}, Scopes: []string{"openid", "read"}})
	ts.mustUser("alice")
	q, verifier := parRequest(c)
	m := decode(t, ts.push(q), http.StatusCreated)
	b := newBrowser(t, ts)
	code := b.codeFrom(b.signInAndAllow(ts.authorizeURL(url.Values{"client_id": {c.ID}, "request_uri": {m["request_uri"].(string)}})), c.RedirectURIs[0], "pushed-state")
	tok, err := ts.oauth2Config(c, "").Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("Exchange: %v", err)
	}
}

// TestRequirePAR: a client (or, server-wide, every client) that must push
// cannot get a code through a plain authorization request, nor through the
// login page the plain request would lead to.
func TestRequirePAR(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, ts *testServer, c *auth.Client, secret string) {
		t.Helper()
		b := newBrowser(t, ts)
		wantErrorPage(t, b.get(ts.authorizeURL(authParams(c))), http.StatusBadRequest)
		wantErrorPage(t, b.get(ts.URL+PathLogin+"?"+authParams(c).Encode()), http.StatusBadRequest)
		// A request object is no way around it either.
		wantErrorPage(t, b.get(ts.authorizeURL(url.Values{"client_id": {c.ID}, "request": {"e30.e30.c2ln"}})), http.StatusBadRequest)
		q, _ := parRequest(c)
		uri := ts.mustPush(t, c, secret, q)
		b.codeFrom(b.signInAndAllow(ts.authorizeURL(url.Values{"client_id": {c.ID}, "request_uri": {uri}})), c.RedirectURIs[0], "pushed-state")
	}
	t.Run("client-level", func(t *testing.T) {
		ts := newTestServer(t, insecureCookies)
		ts.mustUser("alice")
		c, secret := ts.mustClient(client.Input{
			RedirectURIs: []string{"https://app.example.com/cb"}, GrantTypes: []string{auth.GrantAuthorizationCode},
			Scopes: []string{"openid", "profile", "read"}, RequirePAR: true,
		})
		free, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
		check(t, ts, c, secret)
		// Other clients are not concerned.
		if loc := newBrowser(t, ts).get(ts.authorizeURL(authParams(free))).location(t); loc.Path != PathLogin {
			t.Fatalf("a client free to choose went to %s", loc)
		}
	})
	t.Run("server-level", func(t *testing.T) {
		ts := newTestServer(t, insecureCookies, func(c *Config) { c.RequirePushedAuthorizationRequests = true })
		ts.mustUser("alice")
		c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
		check(t, ts, c, secret)
		md := ts.discovery()
		if !md.RequirePushedAuthorizationRequests || md.PushedAuthorizationRequestEndpoint != ts.URL+PathPAR {
			t.Fatalf("discovery %+v", md)
		}
	})
}
