package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// A consent POST that is not the one our page made for this session and
// this request issues no code.
func TestConsentForgeries(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
	ts.mustUser("alice")
	ts.mustUser("mallory")
	alice := newBrowser(t, ts)
	consent := alice.login(ts.authorizeURL(authParams(c)), "alice", testPassword)
	f := consent.form(t)

	refused := func(name string, p *page) {
		t.Helper()
		if p.StatusCode != http.StatusForbidden || p.Header.Get("Location") != "" {
			t.Fatalf("%s: status %d, Location %q", name, p.StatusCode, p.Header.Get("Location"))
		}
		checkPageHeaders(t, p.Response)
	}
	with := func(changes url.Values) url.Values {
		v := url.Values{"decision": {"allow"}}
		for k, vs := range f.fields {
			v[k] = vs
		}
		for k, vs := range changes {
			v[k] = vs
		}
		return v
	}
	refused("no token", alice.post(f.action, with(url.Values{"csrf_token": {""}})))
	refused("wrong token", alice.post(f.action, with(url.Values{"csrf_token": {"1764200000.d3Jvbmc"}})))
	refused("scope added", alice.post(f.action, with(url.Values{"request": {authParams(c, "scope", "openid profile write").Encode()}})))
	tampered, _ := url.ParseQuery(f.fields.Get("request"))
	tampered.Set("redirect_uri", "https://app.example.com/cb")
	tampered.Set("state", "other")
	refused("state changed", alice.post(f.action, with(url.Values{"request": {tampered.Encode()}})))
	refused("cross-site", alice.post(f.action, with(nil), "Sec-Fetch-Site", "cross-site"))
	refused("other origin", alice.post(f.action, with(nil), "Sec-Fetch-Site", "", "Origin", "https://evil.example"))

	// Without any session, and from another user's session: Mallory
	// replays Alice's form (token included) with her own cookies.
	anon := newBrowser(t, ts)
	refused("no session", anon.post(f.action, with(nil)))
	mallory := newBrowser(t, ts)
	mallory.login(ts.authorizeURL(authParams(c)), "mallory", testPassword)
	refused("another session", mallory.post(f.action, with(nil)))

	// A bad decision value is an error, not a grant.
	if p := alice.post(f.action, with(url.Values{"decision": {"yes"}})); p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Fatalf("decision=yes: %d", p.StatusCode)
	}
	// GET is not a way in.
	if p := alice.get(f.action + "?" + with(nil).Encode()); p.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET consent: %d", p.StatusCode)
	}

	// The genuine form still works once.
	alice.codeFrom(alice.post(f.action, with(nil)), c.RedirectURIs[0], "st-123")
}

// The consent page lists the client, the scopes in plain language and
// the audiences, and escapes what the client registered.
func TestConsentPageContents(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.mustClient(client.Input{
		Name: `<img src=x> Photos`, RedirectURIs: []string{"https://photos.example/cb"},
		Scopes: []string{"openid", "email", "photos:read"}, Audiences: []string{"https://photos-api.example"},
	})
	ts.mustUser("alice")
	b := newBrowser(t, ts)
	p := b.login(ts.authorizeURL(authParams(c, "scope", "openid email photos:read")), "alice", testPassword)
	for _, want := range []string{"&lt;img src=x&gt; Photos", "Confirm that you are signed in", "See your email address", "photos:read", "https://photos-api.example", "Test alice (alice)"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<img") {
		t.Error("client name not escaped")
	}
}
