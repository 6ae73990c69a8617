package main

import (
	"context"
	"crypto/tls"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// submitTo posts the form of the page whose action is action (the account
// pages have several: the header's sign-out form first), with its hidden
// fields and values, and follows redirects within the server.
func (ua *userAgent) submitTo(page response, action string, values url.Values) response {
	ua.t.Helper()
	start := strings.Index(page.body, `action="`+action+`"`)
	if start < 0 {
		ua.t.Fatalf("no form posting to %s on the page (status %d):\n%s", action, page.status, page.body)
	}
	end := strings.Index(page.body[start:], "</form>")
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(page.body[start:start+end], -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range values {
		form[k] = v
	}
	target, err := page.url.Parse(action)
	if err != nil {
		ua.t.Fatal(err)
	}
	r := ua.do(http.MethodPost, target.String(), form)
	if r.status == http.StatusSeeOther || r.status == http.StatusFound {
		loc, _ := r.url.Parse(r.header.Get("Location"))
		return ua.follow(loc.String(), "\x00")
	}
	return r
}

// signInToAccount opens /account in the browser and signs in on the login
// page it is sent to; it returns the account page.
func signInToAccount(t *testing.T, ua *userAgent, issuer, username, password string) response {
	t.Helper()
	page := ua.follow(issuer+"/account", "\x00")
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="password"`) || page.url.Path != "/oauth2/login" {
		t.Fatalf("/account signed out: want the login page, got %d at %s:\n%s", page.status, page.url, page.body)
	}
	page = ua.submit(page, url.Values{"username": {username}, "password": {password}}, "\x00")
	if page.status != http.StatusOK || page.url.Path != "/account" || !strings.Contains(page.body, "Signed in as <strong>"+username) {
		t.Fatalf("after signing in: want the account page, got %d at %s:\n%s", page.status, page.url, page.body)
	}
	return page
}

var sessionForm = regexp.MustCompile(`name="session" value="([^"]+)"`)

// TestAccountPagesEndToEnd signs in to /account through the login page of
// the real server, changes the password (the other browser is signed out,
// this one stays), signs out another session, and revokes an
// application's consent, after which its refresh token is refused.
func TestAccountPagesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)) // x/oauth2 reads the wall clock
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	n.env["GATEHOUSE_CA_FILE"] = certFile
	issuer := n.main.URL()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)

	const password, newPassword = "a long and unguessable passphrase", "another long passphrase entirely"
	var user struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--password-stdin")
	const callback = "http://127.0.0.1:9999/callback"
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Photo Printer", "--redirect-uri", callback,
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid offline_access")

	// Two browsers signed in to the account pages.
	laptop, phone := newUserAgent(t, tr), newUserAgent(t, tr)
	signInToAccount(t, laptop, issuer, "ada", password)
	signInToAccount(t, phone, issuer, "ada", password)

	// The laptop allows an application, which gets a refresh token.
	conf := oauth2.Config{ClientID: client.ClientID, ClientSecret: client.ClientSecret, RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token"},
		Scopes:   []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	page := laptop.follow(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), callback)
	if !strings.Contains(page.body, `name="decision"`) {
		t.Fatalf("want the consent page, got %d:\n%s", page.status, page.body)
	}
	page = laptop.submit(page, url.Values{"decision": {"allow"}}, callback)
	loc, _ := url.Parse(page.header.Get("Location"))
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v (refresh token %q)", err, tok.RefreshToken)
	}

	// The laptop changes the password.
	page = laptop.follow(issuer+"/account/password", "\x00")
	page = laptop.submitTo(page, "/account/password", url.Values{"current_password": {password},
		"new_password": {newPassword}, "confirm_password": {newPassword}})
	if page.status != http.StatusOK || !strings.Contains(page.body, "Your password has been changed") {
		t.Fatalf("after the change: %d at %s:\n%s", page.status, page.url, page.body)
	}
	// The phone is signed out; the laptop is not.
	if page = phone.follow(issuer+"/account", "\x00"); page.url.Path != "/oauth2/login" {
		t.Fatalf("the other browser is still signed in: %d at %s", page.status, page.url)
	}
	if page = laptop.follow(issuer+"/account", "\x00"); page.status != http.StatusOK || page.url.Path != "/account" {
		t.Fatalf("the browser that changed the password is signed out: %d at %s", page.status, page.url)
	}
	// Only the new password signs in.
	page = phone.follow(issuer+"/account", "\x00")
	if page = phone.submit(page, url.Values{"username": {"ada"}, "password": {password}}, "\x00"); page.status != http.StatusUnauthorized {
		t.Fatalf("the old password: %d at %s", page.status, page.url)
	}
	signInToAccount(t, phone, issuer, "ada", newPassword)

	// The laptop signs the phone out from the sessions page.
	page = laptop.follow(issuer+"/account/sessions", "\x00")
	refs := sessionForm.FindAllStringSubmatch(page.body, -1)
	if len(refs) != 1 || strings.Count(page.body, `aria-current="true"`) != 1 {
		t.Fatalf("want this session marked and one other to sign out of:\n%s", page.body)
	}
	page = laptop.submitTo(page, "/account/sessions/sign-out", url.Values{"session": {refs[0][1]}})
	if page.status != http.StatusOK || sessionForm.MatchString(page.body) {
		t.Fatalf("sign out of the phone: %d:\n%s", page.status, page.body)
	}
	if page = phone.follow(issuer+"/account", "\x00"); page.url.Path != "/oauth2/login" {
		t.Fatalf("the signed-out browser still reaches its account: %d at %s", page.status, page.url)
	}

	// The application keeps working until its consent is revoked.
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh before the revocation: %v", err)
	}
	page = laptop.follow(issuer+"/account/applications", "\x00")
	if !strings.Contains(page.body, "Photo Printer") {
		t.Fatalf("the applications page lacks the application:\n%s", page.body)
	}
	page = laptop.submitTo(page, "/account/applications/revoke", url.Values{})
	if page.status != http.StatusOK || strings.Contains(page.body, "Photo Printer") {
		t.Fatalf("revoke: %d:\n%s", page.status, page.body)
	}
	// The family's current refresh token (the one rotated in above).
	var out struct {
		Error string `json:"error"`
	}
	status := postForm(t, hc, issuer+"/oauth2/token", client.ClientID, client.ClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}}, &out)
	if status != http.StatusBadRequest || out.Error != "invalid_grant" {
		t.Fatalf("refresh after the revocation: %d %q", status, out.Error)
	}

	// Signing out from the account pages ends the session.
	page = laptop.follow(issuer+"/account", "\x00")
	page = laptop.submitTo(page, "/account/sign-out", nil)
	if page.status != http.StatusOK {
		t.Fatalf("sign out: %d:\n%s", page.status, page.body)
	}
	if page = laptop.follow(issuer+"/account", "\x00"); page.url.Path != "/oauth2/login" {
		t.Fatalf("after signing out, /account: %d at %s", page.status, page.url)
	}
}
