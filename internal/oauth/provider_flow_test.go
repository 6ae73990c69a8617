package oauth

import (
	"context"
	"encoding/hex"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
)

// fakeFederation stands for the federation service: Start remembers the
// pending flow, Finish returns it with a fixed identity (or a refusal),
// Resolve maps every identity to one user.
type fakeFederation struct {
	provider *auth.Provider
	pending  federation.Pending
	user     *auth.User
	finish   error
	linked   []string
	failures []string
}

func (f *fakeFederation) Enabled(context.Context) ([]*auth.Provider, error) {
	return []*auth.Provider{f.provider}, nil
}
func (f *fakeFederation) Start(_ context.Context, _ http.ResponseWriter, name string, p federation.Pending) (string, error) {
	if name != f.provider.Name {
		return "", auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	f.pending = p
	return "https://idp.example/authorize?state=s", nil
}
func (f *fakeFederation) Finish(context.Context, http.ResponseWriter, *http.Request, string) (*federation.Result, error) {
	if f.finish != nil {
		return nil, f.finish
	}
	return &federation.Result{Provider: f.provider, Identity: &federation.Identity{Provider: f.provider.Name, Subject: "up-1"}, Pending: f.pending}, nil
}
func (f *fakeFederation) Resolve(context.Context, *auth.Provider, *federation.Identity) (*auth.User, string, error) {
	return f.user, federation.ResolvedLink, nil
}
func (f *fakeFederation) Link(_ context.Context, userID string, _ *auth.Provider, _ *federation.Identity) error {
	f.linked = append(f.linked, userID)
	return nil
}
func (f *fakeFederation) Failed(_ context.Context, _, _ string, err error) error {
	f.failures = append(f.failures, federation.ReasonOf(err))
	return err
}

var providerHref = regexp.MustCompile(`<a href="([^"]*/oauth2/providers/acme\?[^"]*)">Acme ID</a>`)

func TestProviderSignInStartsAFederatedSessionAndContinuesTheRequest(t *testing.T) {
	fed := &fakeFederation{provider: &auth.Provider{Name: "acme", DisplayName: "Acme ID"}}
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.Federation = fed })
	fed.user = ts.mustUser("alice")
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize}}
	b := newBrowser(t, ts)
	p := b.get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	login := b.get(p.Request.URL.ResolveReference(p.location(t)).String())
	m := providerHref.FindStringSubmatch(login.body)
	if m == nil {
		t.Fatalf("the login page has no link to the provider:\n%s", login.body)
	}
	start := b.get(html.UnescapeString(m[1]))
	if loc := start.location(t); loc.Host != "idp.example" {
		t.Fatalf("start went to %s", loc)
	}
	if fed.pending.Purpose != federation.PurposeLogin || !strings.Contains(fed.pending.Request, "client_id="+c.ID) {
		t.Fatalf("pending %+v", fed.pending)
	}
	// A tampered request is checked like /oauth2/authorize checks it.
	if r := b.get(ts.URL + PathProviders + "acme?client_id=nope"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("start with an unknown client: %d", r.StatusCode)
	}
	done := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
	if done.StatusCode == http.StatusOK && strings.Contains(done.body, `value="allow"`) {
		done = b.submit(done, url.Values{"decision": {"allow"}})
	}
	b.codeFrom(done, c.RedirectURIs[0], "st")
	// The session says the user came through a provider.
	sess := ts.browserSessionOf(t, b)
	if !slices.Equal(sess.AMR, []string{auth.AMRFederated}) || sess.UserID != fed.user.ID {
		t.Fatalf("session %+v", sess)
	}
}

func TestProviderRefusalsAnswer403AndAreAudited(t *testing.T) {
	fed := &fakeFederation{provider: &auth.Provider{Name: "acme"}, finish: &federation.Error{Reason: federation.ReasonStateMismatch, Message: "Nope."}}
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.Federation = fed })
	b := newBrowser(t, ts)
	r := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=forged")
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "Nope.") || !slices.Equal(fed.failures, []string{federation.ReasonStateMismatch}) {
		t.Fatalf("refusal: %d %v\n%s", r.StatusCode, fed.failures, r.body)
	}
	if r := b.get(ts.URL + PathProviders + "nope?client_id=x"); r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", r.StatusCode)
	}
}

func TestProviderLinkOnlyInTheSessionThatStartedIt(t *testing.T) {
	fed := &fakeFederation{provider: &auth.Provider{Name: "acme"}}
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.Federation = fed })
	alice := ts.mustUser("alice")
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	b := newBrowser(t, ts)
	ts.signInAt(t, b, c, secret)
	sess := ts.browserSessionOf(t, b)

	// Started for another session (or user): refused, nothing linked.
	fed.pending = federation.Pending{Purpose: federation.PurposeLink, UserID: alice.ID, Session: "00", Return: "/account/providers"}
	r := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
	if r.StatusCode != http.StatusForbidden || len(fed.linked) != 0 || !slices.Contains(fed.failures, federation.ReasonWrongSession) {
		t.Fatalf("link from another session: %d linked %v", r.StatusCode, fed.linked)
	}
	// Without any session: refused.
	if r := newBrowser(t, ts).get(ts.URL + PathProviders + "acme/callback?code=c&state=s"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("link without a session: %d", r.StatusCode)
	}
	fed.pending.Session = hex.EncodeToString(sess.Hash)
	r = b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
	if loc := r.location(t); loc.Path != "/account/providers" || !slices.Equal(fed.linked, []string{alice.ID}) {
		t.Fatalf("link: %s, linked %v", loc, fed.linked)
	}
}

// browserSessionOf reads the session of the browser's session cookie.
func (ts *testServer) browserSessionOf(t *testing.T, b *browser) *auth.Session {
	t.Helper()
	u, _ := url.Parse(ts.URL)
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name != sessionCookieInsecure {
			continue
		}
		hash, ok := ts.parseSecret(PrefixSession, ck.Value)
		if !ok {
			t.Fatal("malformed session cookie")
		}
		s, err := ts.Store.GetSession(context.Background(), hash, ts.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatal("no session cookie")
	return nil
}

// A sign-in through a provider is a first factor like a password: a user
// with a second factor is asked for it, whatever the policy, before any
// session exists, and the session then has both (fed, otp: two factors).
// A user without one, under a required policy, enrols with a fed session.
func TestProviderSignInAsksForTheUsersSecondFactor(t *testing.T) {
	for _, policy := range []string{auth.MFAOptional, auth.MFARequired} {
		t.Run(policy, func(t *testing.T) {
			fed := &fakeFederation{provider: &auth.Provider{Name: "acme", DisplayName: "Acme ID"}}
			ts := newMFAServer(t, func(c *Config) { c.Federation = fed })
			fed.user = ts.mustUser("alice")
			key := ts.totp.enrol(fed.user.ID)
			c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
			ts.policy.set(c.ID, policy)
			conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid"},
				Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize}}
			b := newBrowser(t, ts.testServer)
			// Straight to the provider, without the login page: the
			// browser has no pre-session cookie yet.
			authURL, _ := url.Parse(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			b.get(ts.URL + PathProviders + "acme?" + authURL.RawQuery)
			step := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
			if step.StatusCode != http.StatusOK || !strings.Contains(step.body, `name="code"`) {
				t.Fatalf("no second step: status %d, Location %q", step.StatusCode, step.Header.Get("Location"))
			}
			if sess := b.session(); sess != nil {
				t.Fatalf("a session exists before the second step: %v", sess.AMR)
			}
			wrong := b.submit(step, url.Values{"code": {"000000"}})
			if wrong.StatusCode != http.StatusUnauthorized || b.session() != nil {
				t.Fatalf("wrong code: status %d", wrong.StatusCode)
			}
			done := b.submit(wrong, url.Values{"code": {totpCode(t, key, ts.Clock.Now())}})
			if done.StatusCode == http.StatusOK && strings.Contains(done.body, `value="allow"`) {
				done = b.submit(done, url.Values{"decision": {"allow"}})
			}
			b.codeFrom(done, c.RedirectURIs[0], "st")
			if sess := b.session(); sess == nil || !slices.Equal(sess.AMR, []string{auth.AMRFederated, auth.AMRMFA, auth.AMROTP}) {
				t.Fatalf("session after the second step: %+v", sess)
			}
		})
	}
	t.Run("required, no factor: enrol", func(t *testing.T) {
		fed := &fakeFederation{provider: &auth.Provider{Name: "acme", DisplayName: "Acme ID"}}
		ts := newMFAServer(t, func(c *Config) { c.Federation = fed })
		fed.user = ts.mustUser("alice")
		c, _ := ts.confidentialClient(auth.AuthMethodSecretBasic)
		ts.policy.set(c.ID, auth.MFARequired)
		b := newBrowser(t, ts.testServer)
		b.get(ts.URL + PathProviders + "acme?" + authParams(c).Encode())
		enrol := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
		if loc := enrol.location(t); loc.Path != PathEnrolTOTP {
			t.Fatalf("went to %s, want the enrolment", loc)
		}
		if sess := b.session(); sess == nil || !slices.Equal(sess.AMR, []string{auth.AMRFederated}) {
			t.Fatalf("enrolment session %+v", sess)
		}
	})
}
