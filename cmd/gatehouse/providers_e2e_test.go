package main

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

var providerLink = regexp.MustCompile(`<a href="([^"]*/oauth2/providers/[^"]*)">`)

// federatedNode starts an initialised node on plain HTTP (Dev: cookies
// without Secure, so the test's cookie jar sends them).
func federatedNode(t *testing.T) *node {
	t.Helper()
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dev = true
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	return startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
}

// TestProvidersSignInThroughAnotherGatehouse signs a user in to one
// Gatehouse through a second, real Gatehouse acting as the upstream
// OpenID provider: the provider is configured with the CLI, the login
// page links to it, the upstream's pages sign the user in, and the
// downstream creates the account just in time and finishes the client's
// authorization request with a code.
func TestProvidersSignInThroughAnotherGatehouse(t *testing.T) {
	t.Parallel()
	up, down := federatedNode(t), federatedNode(t)
	redirect := down.main.URL() + "/oauth2/providers/upstream/callback"

	const password = "a long and unguessable passphrase"
	var ada struct {
		ID string `json:"id"`
	}
	up.cliStdin(password+"\n", &ada, "users", "create", "--username", "ada", "--email", "ada@example.test",
		"--email-verified", "--name", "Ada Lovelace", "--password-stdin")
	var upClient struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	up.cliJSON(&upClient, "clients", "create", "--name", "Downstream Gatehouse", "--redirect-uri", redirect,
		"--grant-types", "authorization_code", "--scopes", "openid profile email")

	var prov struct {
		Name        string `json:"name"`
		RedirectURI string `json:"redirect_uri"`
		SecretSet   bool   `json:"client_secret_set"`
	}
	down.cliStdin(upClient.ClientSecret+"\n", &prov, "providers", "create", "--name", "upstream",
		"--issuer", up.main.URL(), "--client-id", upClient.ClientID, "--client-secret-stdin", "--display-name", "Upstream")
	if prov.RedirectURI != redirect || !prov.SecretSet {
		t.Fatalf("providers create printed %+v; want redirect_uri %s and a secret", prov, redirect)
	}
	if out := down.cli("providers", "list"); !strings.Contains(out, "upstream") {
		t.Fatalf("providers list:\n%s", out)
	}

	const callback = "http://127.0.0.1:9999/callback"
	var app struct {
		ClientID string `json:"client_id"`
	}
	down.cliJSON(&app, "clients", "create", "--name", "App", "--redirect-uri", callback,
		"--grant-types", "authorization_code", "--scopes", "openid profile")

	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	authz := down.main.URL() + "/oauth2/authorize?" + url.Values{
		"client_id": {app.ClientID}, "redirect_uri": {callback}, "response_type": {"code"}, "scope": {"openid profile"},
		"state": {"app-state"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	ua := newUserAgent(t, nil)
	login := ua.follow(authz, callback)
	m := providerLink.FindStringSubmatch(login.body)
	if login.status != http.StatusOK || m == nil || !strings.Contains(login.body, "Upstream") {
		t.Fatalf("login page (status %d) offers no provider:\n%s", login.status, login.body)
	}
	start, _ := login.url.Parse(html.UnescapeString(m[1]))
	if !strings.HasPrefix(start.Path, "/oauth2/providers/upstream") {
		t.Fatalf("provider link %s", start)
	}
	// Through the upstream's login and consent pages.
	upLogin := ua.follow(start.String(), callback)
	if upLogin.status != http.StatusOK || !strings.HasPrefix(upLogin.url.String(), up.main.URL()) {
		t.Fatalf("expected the upstream's login page, got %d at %s:\n%s", upLogin.status, upLogin.url, upLogin.body)
	}
	r := ua.submit(upLogin, url.Values{"username": {"ada"}, "password": {password}}, callback)
	for i := 0; i < 3 && r.status == http.StatusOK && strings.Contains(r.body, `name="decision"`); i++ {
		r = ua.submit(r, url.Values{"decision": {"allow"}}, callback)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, callback) {
		t.Fatalf("the flow ended with %d at %s (Location %q):\n%s", r.status, r.url, loc, r.body)
	}
	got, _ := url.Parse(loc)
	if got.Query().Get("code") == "" || got.Query().Get("state") != "app-state" {
		t.Fatalf("callback %s", loc)
	}
	// The account was created just in time, from the upstream's claims.
	var users struct {
		Items []struct {
			ID       string `json:"id"`
			Username string `json:"username"`
			Email    string `json:"email"`
		} `json:"items"`
	}
	down.cliJSON(&users, "users", "list")
	found := false
	for _, u := range users.Items {
		found = found || (u.Username == "ada" && u.Email == "ada@example.test")
	}
	if !found {
		t.Fatalf("no user ada on the downstream: %+v", users.Items)
	}
	if out := down.cli("audit", "--type", "user.provider_linked"); !strings.Contains(out, "user.provider_linked") {
		t.Fatalf("no link audited:\n%s", out)
	}
}
