package oauth

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// REVIEW: a user who set up an authenticator app is asked for it after the
// password (optional policy), but a sign-in through a linked provider
// skips it: the federated session gets a code with no second step.
func TestReviewProviderSignInSkipsTheUsersSecondFactor(t *testing.T) {
	fed := &fakeFederation{provider: &auth.Provider{Name: "acme", DisplayName: "Acme ID"}}
	totp := newFakeTOTP()
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.Federation = fed; c.TOTP = totp })
	fed.user = ts.mustUser("alice")
	totp.enrol(fed.user.ID)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + PathAuthorize}}
	b := newBrowser(t, ts)
	p := b.get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	login := b.get(p.Request.URL.ResolveReference(p.location(t)).String())
	m := providerHref.FindStringSubmatch(login.body)
	if m == nil {
		t.Fatalf("no provider link")
	}
	b.get(html.UnescapeString(m[1]))
	done := b.get(ts.URL + PathProviders + "acme/callback?code=c&state=s")
	if done.StatusCode == http.StatusOK && strings.Contains(done.body, `value="allow"`) {
		done = b.submit(done, url_(map[string]string{"decision": "allow"}))
	}
	if done.StatusCode == http.StatusOK && strings.Contains(done.body, `name="code"`) {
		t.Logf("second step asked: OK")
		return
	}
	t.Errorf("federated sign-in of a user with TOTP was not asked for the code: status %d, Location %q", done.StatusCode, done.Header.Get("Location"))
}

func url_(m map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = []string{v}
	}
	return out
}
